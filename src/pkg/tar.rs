//! Reading the entries of a tar stream (ustar, with pax `path` records), enough for the
//! repository indexes the tools keep as gzip'd tars: pacman's sync databases and apk's
//! `APKINDEX.tar.gz`. No entry is written anywhere; the caller reads what it needs.

use std::io::{self, Read};

/// A tar header block.
pub const BLOCK: usize = 512;

/// Calls `each` with the path and the contents (limited to the entry's size) of every
/// entry of `tar`, in order, until the end blocks or the end of the stream.
pub fn for_each_entry(
    mut tar: impl Read,
    mut each: impl FnMut(&str, &mut dyn Read) -> io::Result<()>,
) -> io::Result<()> {
    let mut header = [0u8; BLOCK];
    let mut long_path: Option<String> = None;
    loop {
        if !read_block(&mut tar, &mut header)? || header.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let size = octal(&header[124..136])?;
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if header[156] == b'x' {
            // A pax extended header: its `path` names the next entry.
            let mut data = Vec::new();
            (&mut tar).take(padded).read_to_end(&mut data)?;
            data.truncate(usize::try_from(size).unwrap_or(data.len()));
            long_path = pax_path(&data);
            continue;
        }
        let path = long_path.take().unwrap_or_else(|| ustar_path(&header));
        let mut body = (&mut tar).take(size);
        each(&path, &mut body)?;
        // Whatever the caller left of the entry, then the padding: all of it, or the
        // stream was cut.
        io::copy(&mut body, &mut io::sink())?;
        let short = body.limit() > 0;
        let pad = padded - size;
        if short || io::copy(&mut (&mut tar).take(pad), &mut io::sink())? != pad {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Reads one whole block; `false` at a clean end of the stream.
fn read_block(r: &mut impl Read, buf: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut buf[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(true)
}

/// A NUL- or space-terminated octal field.
fn octal(field: &[u8]) -> io::Result<u64> {
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(text.trim(), 8)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad tar size field"))
}

/// The name of a ustar header, with its prefix field.
fn ustar_path(h: &[u8; BLOCK]) -> String {
    let field = |b: &[u8]| {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    let name = field(&h[0..100]);
    let prefix = if &h[257..262] == b"ustar" {
        field(&h[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// The `path` record of pax extended header data (`LEN path=VALUE\n` records).
fn pax_path(data: &[u8]) -> Option<String> {
    String::from_utf8_lossy(data).lines().find_map(|rec| {
        let (_, kv) = rec.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(path: &str, size: usize, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..path.len()].copy_from_slice(path.as_bytes());
        let size = format!("{size:011o}\0");
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = kind;
        h[257..262].copy_from_slice(b"ustar");
        h
    }

    fn entry(tar: &mut Vec<u8>, path: &str, data: &[u8], kind: u8) {
        tar.extend_from_slice(&header(path, data.len(), kind));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    }

    #[test]
    fn entries_in_order_with_their_contents_and_pax_paths() {
        let mut tar = Vec::new();
        entry(&mut tar, "a", b"one", b'0');
        let rec = "path=long/name\n";
        let rec = format!("{} {rec}", rec.len() + 3);
        entry(&mut tar, "PaxHeader/x", rec.as_bytes(), b'x');
        entry(&mut tar, "short", &[7u8; 600], b'0');
        entry(&mut tar, "c", b"three", b'0');
        tar.extend_from_slice(&[0u8; 2 * BLOCK]);
        let mut seen = Vec::new();
        for_each_entry(&tar[..], |path, body| {
            // Read only a part of one: the rest is skipped.
            let mut first = [0u8; 2];
            body.read_exact(&mut first)?;
            seen.push((path.to_string(), first));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("a".to_string(), *b"on"),
                ("long/name".to_string(), [7, 7]),
                ("c".to_string(), *b"th")
            ]
        );
    }

    #[test]
    fn a_cut_stream_is_an_error_and_a_missing_end_is_not() {
        let mut tar = Vec::new();
        entry(&mut tar, "a", b"one", b'0');
        assert!(for_each_entry(&tar[..], |_, _| Ok(())).is_ok());
        assert!(for_each_entry(&tar[..BLOCK + 1], |_, b| {
            io::copy(b, &mut io::sink()).map(|_| ())
        })
        .is_err());
        let mut bad = header("a", 1, b'0');
        bad[124..136].copy_from_slice(b"zzzzzzzzzzz\0");
        assert!(for_each_entry(&bad[..], |_, _| Ok(())).is_err());
    }
}
