#!/bin/sh
# Builds the RPM fixture repository for the dnf, yum and zypper sandbox tests.
#
# Usage: fixtures-rpm.sh OUTDIR
#
# Writes:
#   OUTDIR/repo/            one repository (createrepo_c) with every fixture version:
#                           lpa-lib 1.0-1 1.1-1, lpa-hello 1.0-1 1.1-1 2.0-1, lpa-tool 1.0-1,
#                           lpa-slow 1.0-1 (its %post runs `sleep 30`: cancel/timeout tests),
#                           plus updateinfo (uncompressed, so the agent can read it
#                           without a decompressor) with three advisories:
#                             LPA-2026-0001 security, Important, CVE-2026-0001,
#                               reboot_suggested False, for lpa-hello-2.0-1
#                             LPA-2026-0002 bugfix, no severity, for lpa-lib-1.1-1
#                             LPA-2026-0003 security, Critical, CVE-2026-0002 and
#                               CVE-2026-0003, reboot_suggested True, for lpa-lib-1.1-1
#                           (so lpa-lib 1.1-1 is covered by two advisories; the upgradable
#                           set stays lpa-hello 2.0-1 and lpa-lib 1.1-1)
#   OUTDIR/lpa.repo         repo file for dnf/yum (/etc/yum.repos.d/) and for zypper
#                           (/etc/zypp/repos.d/: zypper reads the same ini format)
#   OUTDIR/lpa-broken.repo  same but with a baseurl that does not exist (refresh failures)
#   OUTDIR/dnf.conf         a minimal dnf.conf to pass with --config (so the host's is never read)
# The repo files assume OUTDIR is bind-mounted at /srv/lpa-rpm inside the sandbox.
#
# Deterministic (fixed SOURCE_DATE_EPOCH, build host, no network) and fast: all seven
# packages are built by one rpmbuild run.
set -eu

out=${1:?usage: fixtures-rpm.sh OUTDIR}
for tool in rpmbuild createrepo_c modifyrepo_c; do
    command -v "$tool" >/dev/null || { echo "fixtures-rpm: $tool is missing (Debian packages: rpm, createrepo-c)" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SPECS" "$top/BUILD" "$top/BUILDROOT" "$top/RPMS" "$top/SRPMS" "$top/SOURCES" "$top/db"

# 2026-01-15T00:00:00Z: fixed so that every build yields the same headers.
SOURCE_DATE_EPOCH=1768435200
export SOURCE_DATE_EPOCH
# Debian's rpm defaults its database to ~/.rpmdb: keep every tool here away from root's home.
HOME=$top
export HOME

# spec NAME VERSION SUMMARY REQUIRES FILES-KIND
spec() {
    name=$1 version=$2 summary=$3 requires=$4 kind=$5
    f="$top/SPECS/$name-$version.spec"
    {
        echo "Name: $name"
        echo "Version: $version"
        echo "Release: 1"
        echo "Summary: $summary"
        echo "License: MIT"
        echo "URL: https://lpa.invalid/${name#lpa-}"
        echo "Packager: LPA Tests <tests@lpa.invalid>"
        echo "Vendor: LPA Tests"
        echo "BuildArch: noarch"
        echo "AutoReqProv: no"
        [ -n "$requires" ] && echo "Requires: $requires"
        echo
        echo "%description"
        echo "$summary, version $version (test fixture of linux-patch-api)."
        echo
        echo "%install"
        case $kind in
        lib)
            echo "mkdir -p %{buildroot}/usr/lib/lpa"
            echo "echo 'lpa-lib $version' > %{buildroot}/usr/lib/lpa/liblpa.txt"
            ;;
        hello)
            echo "mkdir -p %{buildroot}/usr/bin %{buildroot}/etc"
            echo "printf '#!/bin/sh\\necho \"lpa-hello $version\"\\n' > %{buildroot}/usr/bin/lpa-hello"
            echo "chmod 0755 %{buildroot}/usr/bin/lpa-hello"
            echo "echo 'greeting = hello' > %{buildroot}/etc/lpa-hello.conf"
            ;;
        tool)
            echo "mkdir -p %{buildroot}/usr/bin"
            echo "printf '#!/bin/sh\\necho \"lpa-tool $version\"\\n' > %{buildroot}/usr/bin/lpa-tool"
            echo "chmod 0755 %{buildroot}/usr/bin/lpa-tool"
            ;;
        slow)
            echo "mkdir -p %{buildroot}/usr/share/lpa"
            echo "echo 'lpa-slow $version' > %{buildroot}/usr/share/lpa/slow.txt"
            ;;
        esac
        echo
        if [ "$kind" = slow ]; then
            # A long install scriptlet, for the cancel and timeout tests. Lua, not /bin/sh:
            # a shell scriptlet makes rpmbuild add `Requires: /bin/sh`, which nothing in
            # the sandbox's rpm database provides (Debian's /bin/sh belongs to dpkg), so dnf
            # and zypper would refuse it. rpm.execute (rpm >= 4.15) runs sleep without a shell.
            echo "%post -p <lua>"
            echo 'if rpm.execute then rpm.execute("sleep", "30") else posix.sleep(30) end'
            echo
        fi
        echo "%files"
        case $kind in
        lib) echo "/usr/lib/lpa/liblpa.txt" ;;
        hello)
            echo "/usr/bin/lpa-hello"
            echo "%config(noreplace) /etc/lpa-hello.conf"
            ;;
        tool) echo "/usr/bin/lpa-tool" ;;
        slow) echo "/usr/share/lpa/slow.txt" ;;
        esac
    } > "$f"
}

spec lpa-lib 1.0 "LPA fixture library" "" lib
spec lpa-lib 1.1 "LPA fixture library" "" lib
spec lpa-hello 1.0 "LPA fixture hello" "lpa-lib >= 1.0" hello
spec lpa-hello 1.1 "LPA fixture hello" "lpa-lib >= 1.0" hello
spec lpa-hello 2.0 "LPA fixture hello" "lpa-lib >= 1.0" hello
spec lpa-tool 1.0 "LPA fixture tool" "" tool
spec lpa-slow 1.0 "LPA fixture slow" "" slow

rpmbuild --quiet -bb \
    --define "_topdir $top" \
    --define "_dbpath $top/db" \
    --define "_buildhost lpa.invalid" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_binary_payload w2.xzdio" \
    --define "__os_install_post %{nil}" \
    --define "debug_package %{nil}" \
    "$top"/SPECS/*.spec >"$top/rpmbuild.log" 2>&1 || { cat "$top/rpmbuild.log" >&2; exit 1; }

rm -rf "$out/repo"
mkdir -p "$out/repo"
cp "$top"/RPMS/noarch/*.rpm "$out/repo/"
touch -d "@$SOURCE_DATE_EPOCH" "$out"/repo/*.rpm
createrepo_c --quiet --revision "$SOURCE_DATE_EPOCH" --set-timestamp-to-revision --no-database "$out/repo" >/dev/null

cat > "$top/updateinfo.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="tests@lpa.invalid" status="final" type="security" version="1">
    <id>LPA-2026-0001</id>
    <title>Important: lpa-hello security update</title>
    <issued date="2026-01-15 00:00:00"/>
    <updated date="2026-01-15 00:00:00"/>
    <rights>Public domain</rights>
    <release>LPA fixtures</release>
    <severity>Important</severity>
    <summary>An update for lpa-hello fixes CVE-2026-0001.</summary>
    <description>lpa-hello 2.0-1 fixes a fictitious flaw (CVE-2026-0001) for the linux-patch-api tests.</description>
    <references>
      <reference href="https://lpa.invalid/cve/CVE-2026-0001" id="CVE-2026-0001" type="cve" title="CVE-2026-0001"/>
    </references>
    <pkglist>
      <collection short="lpa">
        <name>LPA fixtures</name>
        <package name="lpa-hello" version="2.0" release="1" epoch="0" arch="noarch" src="lpa-hello-2.0-1.src.rpm">
          <filename>lpa-hello-2.0-1.noarch.rpm</filename>
          <reboot_suggested>False</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="tests@lpa.invalid" status="final" type="bugfix" version="1">
    <id>LPA-2026-0002</id>
    <title>lpa-lib bug fix update</title>
    <issued date="2026-01-15 00:00:00"/>
    <updated date="2026-01-15 00:00:00"/>
    <rights>Public domain</rights>
    <release>LPA fixtures</release>
    <severity>None</severity>
    <summary>An update for lpa-lib fixes a bug.</summary>
    <description>lpa-lib 1.1-1 fixes a fictitious bug for the linux-patch-api tests.</description>
    <references/>
    <pkglist>
      <collection short="lpa">
        <name>LPA fixtures</name>
        <package name="lpa-lib" version="1.1" release="1" epoch="0" arch="noarch" src="lpa-lib-1.1-1.src.rpm">
          <filename>lpa-lib-1.1-1.noarch.rpm</filename>
          <reboot_suggested>False</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="tests@lpa.invalid" status="final" type="security" version="1">
    <id>LPA-2026-0003</id>
    <title>Critical: lpa-lib security update</title>
    <issued date="2026-01-20 00:00:00"/>
    <updated date="2026-01-20 00:00:00"/>
    <rights>Public domain</rights>
    <release>LPA fixtures</release>
    <severity>Critical</severity>
    <summary>An update for lpa-lib fixes CVE-2026-0002 and CVE-2026-0003.</summary>
    <description>lpa-lib 1.1-1 fixes two fictitious flaws (CVE-2026-0002, CVE-2026-0003) for the linux-patch-api tests; a reboot is suggested.</description>
    <references>
      <reference href="https://lpa.invalid/cve/CVE-2026-0002" id="CVE-2026-0002" type="cve" title="CVE-2026-0002"/>
      <reference href="https://lpa.invalid/cve/CVE-2026-0003" id="CVE-2026-0003" type="cve" title="CVE-2026-0003"/>
    </references>
    <pkglist>
      <collection short="lpa">
        <name>LPA fixtures</name>
        <package name="lpa-lib" version="1.1" release="1" epoch="0" arch="noarch" src="lpa-lib-1.1-1.src.rpm">
          <filename>lpa-lib-1.1-1.noarch.rpm</filename>
          <reboot_suggested>True</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="tests@lpa.invalid" status="final" type="security" version="1">
    <id>LPA-2026-0099</id>
    <title>Malformed on purpose: its issued date is not a date</title>
    <issued date="the fifteenth of January"/>
    <severity>Low</severity>
    <description>The agent skips and counts this record (dnf and zypper read it with date 0); lpa-absent is in no repository, so it never applies.</description>
    <references/>
    <pkglist>
      <collection short="lpa">
        <name>LPA fixtures</name>
        <package name="lpa-absent" version="1.0" release="1" epoch="0" arch="noarch" src="lpa-absent-1.0-1.src.rpm">
          <filename>lpa-absent-1.0-1.noarch.rpm</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
EOF
touch -d "@$SOURCE_DATE_EPOCH" "$top/updateinfo.xml"
modifyrepo_c --mdtype=updateinfo --no-compress "$top/updateinfo.xml" "$out/repo/repodata/" >/dev/null
# modifyrepo_c stamps the new entry with the current time; pin it for reproducible output.
sed -i "s|<timestamp>[0-9]*</timestamp>|<timestamp>$SOURCE_DATE_EPOCH</timestamp>|" "$out/repo/repodata/repomd.xml"

# dnf/yum and zypper both read this ini format (zypper from /etc/zypp/repos.d/).
cat > "$out/lpa.repo" <<'EOF'
[lpa]
name=LPA fixtures
baseurl=file:///srv/lpa-rpm/repo
enabled=1
gpgcheck=0
repo_gpgcheck=0
autorefresh=1
type=rpm-md
metadata_expire=0
EOF
cat > "$out/lpa-broken.repo" <<'EOF'
[lpa-broken]
name=LPA fixtures (missing)
baseurl=file:///srv/lpa-rpm/missing
enabled=1
gpgcheck=0
repo_gpgcheck=0
autorefresh=1
type=rpm-md
metadata_expire=0
skip_if_unavailable=0
EOF
cat > "$out/dnf.conf" <<'EOF'
[main]
gpgcheck=0
installonly_limit=3
clean_requirements_on_remove=False
best=False
skip_if_unavailable=False
reposdir=/etc/yum.repos.d
EOF
