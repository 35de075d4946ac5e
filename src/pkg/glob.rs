//! Shell-glob name masks (`*`, `?`, `[...]`), shared by zypper's glob locks and the patch
//! policy's package masks, so both read a mask the same way.

/// One element of a compiled mask.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*`: any run of bytes, empty included.
    Star,
    /// `?`: exactly one byte.
    Any,
    /// `[...]` / `[!...]` / `[^...]`: one byte in (or, negated, not in) the ranges.
    Class {
        ranges: Vec<(u8, u8)>,
        negated: bool,
    },
    /// Anything else: itself.
    Literal(u8),
}

impl Token {
    fn matches(&self, c: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Class { ranges, negated } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Literal(l) => *l == c,
        }
    }
}

/// Why a mask cannot be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobError {
    /// A `[` without its closing `]`.
    UnclosedClass,
    /// `[]` or `[!]`: a class that matches nothing.
    EmptyClass,
}

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlobError::UnclosedClass => f.write_str("a [ without its closing ]"),
            GlobError::EmptyClass => f.write_str("an empty [] class"),
        }
    }
}

/// Whether `text` has any of the glob characters (`*`, `?`, `[`): otherwise it is a plain
/// name that matches only itself.
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether the mask `pattern` matches the whole of `name`; a mask that does not compile
/// matches nothing (callers that take masks from a request check them with [`check`]).
pub fn matches(pattern: &str, name: &str) -> bool {
    match compile(pattern.as_bytes()) {
        Ok(tokens) => run(&tokens, name.as_bytes()),
        Err(_) => false,
    }
}

/// Checks that `pattern` compiles.
pub fn check(pattern: &str) -> Result<(), GlobError> {
    compile(pattern.as_bytes()).map(|_| ())
}

fn compile(pattern: &[u8]) -> Result<Vec<Token>, GlobError> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let (token, next) = match pattern[i] {
            b'*' => (Token::Star, i + 1),
            b'?' => (Token::Any, i + 1),
            b'[' => class(pattern, i + 1)?,
            c => (Token::Literal(c), i + 1),
        };
        tokens.push(token);
        i = next;
    }
    Ok(tokens)
}

/// The class opened just before `start`, and the index after its `]`. A `]` right after
/// the opening (or its `!`/`^`) is a member, as in the shell.
fn class(pattern: &[u8], start: usize) -> Result<(Token, usize), GlobError> {
    let mut i = start;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    loop {
        let c = *pattern.get(i).ok_or(GlobError::UnclosedClass)?;
        if c == b']' && i > first {
            break;
        }
        match (pattern.get(i + 1), pattern.get(i + 2)) {
            (Some(b'-'), Some(&hi)) if hi != b']' => {
                ranges.push((c.min(hi), c.max(hi)));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    if ranges.is_empty() {
        return Err(GlobError::EmptyClass);
    }
    Ok((Token::Class { ranges, negated }, i + 1))
}

/// Iterative with one backtrack point (the last `*`), so a hostile mask costs at most
/// `mask x name` steps.
fn run(tokens: &[Token], name: &[u8]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if token.matches(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    t = st + 1;
                    n = sn + 1;
                    star = Some((st, sn + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|t| *t == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("linux-image-*", "linux-image-6.1.0-13-amd64"));
        assert!(matches("linux-image-*", "linux-image-"));
        assert!(!matches("linux-image-*", "linux-headers-6.1"));
        assert!(matches("lib?", "libc"));
        assert!(!matches("lib?", "lib"));
        assert!(matches("*ssl*", "openssl"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("postgresql", "postgresql"));
        assert!(!matches("postgresql", "postgresql-15"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(matches("python3.[0-9]*", "python3.11-minimal"));
        assert!(!matches("python3.[0-9]*", "python3-apt"));
        assert!(matches("lib[!x]z", "libaz"));
        assert!(!matches("lib[!x]z", "libxz"));
        assert!(matches("lib[^x]z", "libaz"));
        assert!(matches("a[]]b", "a]b"));
        assert!(matches("a[-x]b", "a-b"));
        assert!(matches("a[x-]b", "a-b"));
        assert!(
            matches("[z-a]", "m"),
            "a reversed range reads as its ascending one"
        );
    }

    #[test]
    fn bad_masks_are_named_and_match_nothing() {
        assert_eq!(check("lib[abc"), Err(GlobError::UnclosedClass));
        assert_eq!(check("lib["), Err(GlobError::UnclosedClass));
        assert_eq!(check("lib[!"), Err(GlobError::UnclosedClass));
        assert!(!matches("lib[abc", "liba"));
        assert!(check("lib[!]]").is_ok());
        assert!(is_glob("a*") && is_glob("a?") && is_glob("a[b]") && !is_glob("a.b+c"));
    }

    #[test]
    fn a_hostile_mask_stays_cheap() {
        let mask = "*a".repeat(200);
        let name = "a".repeat(2000) + "b";
        assert!(!matches(&mask, &name));
    }
}
