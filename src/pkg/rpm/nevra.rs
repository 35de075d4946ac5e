//! The NEVRA splitter (`name-[E:]V-R.arch`) that dnf's and yum's `updateinfo list` readers
//! share. Separate so that [`super::updateinfo`] need not import the dnf backend for it.

/// Splits `name-[E:]V-R.arch` into its name, `[E:]V-R` and arch.
pub fn split_nevra(nevra: &str) -> Option<(String, String, String)> {
    let (nevr, arch) = nevra.rsplit_once('.')?;
    let (nev, release) = nevr.rsplit_once('-')?;
    let (name, ver) = nev.rsplit_once('-')?;
    if name.is_empty() || ver.is_empty() || release.is_empty() || arch.is_empty() {
        return None;
    }
    Some((
        name.to_string(),
        format!("{ver}-{release}"),
        arch.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nevra_with_epoch() {
        assert_eq!(
            split_nevra("bind-libs-32:9.11.4-26.P2.el7_9.16.x86_64"),
            Some((
                "bind-libs".into(),
                "32:9.11.4-26.P2.el7_9.16".into(),
                "x86_64".into()
            ))
        );
        assert_eq!(split_nevra("noversion.x86_64"), None);
    }
}
