//! Shared helpers of the `ipsec.conf` and `ipsec.secrets` readers: `include` glob
//! expansion, comment stripping and quoted-word splitting.

use std::path::{Component, Path, PathBuf};

/// Maximum `include` nesting; deeper nesting is almost certainly a loop.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// A problem reading `ipsec.conf` or `ipsec.secrets` (or a file either includes), with
/// its location. [`crate::conf::ConfError`] and [`crate::secrets::SecretsError`] name it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax or value error.
    #[error("{path}:{line}: {problem}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

impl FileError {
    /// A syntax or value error at `path:line`.
    pub fn syntax(path: &Path, line: usize, problem: impl Into<String>) -> Self {
        FileError::Syntax {
            path: path.to_path_buf(),
            line,
            problem: problem.into(),
        }
    }
}

/// The largest configuration or secrets file read (each file of an `include` on
/// its own). 100,000 conns of a generated ipsec.conf take about 15 MB; a file
/// larger than this is refused, so that a mistaken `include` of a log or an image
/// cannot exhaust memory.
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// Reads a whole configuration file: a regular file of at most [`MAX_FILE_SIZE`]
/// bytes. A FIFO, device, socket or directory is refused with a message, without
/// waiting: the file is opened non-blocking (opening a FIFO would otherwise wait
/// for a writer, and reading `/dev/zero` would never end).
pub fn read_text(path: &Path) -> Result<String, FileError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |what: &str| refused(path, format!("{what}, not a regular file"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(refuse(if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a file"
        }));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(refuse_size(path, meta.len()));
    }
    let mut text = String::with_capacity(meta.len() as usize);
    // take(): a file that grows while it is read still stops at the cap.
    file.take(MAX_FILE_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_FILE_SIZE {
        return Err(refuse_size(path, text.len() as u64));
    }
    Ok(text)
}

fn refuse_size(path: &Path, len: u64) -> FileError {
    refused(
        path,
        format!("{len} bytes, larger than the {MAX_FILE_SIZE}-byte limit"),
    )
}

/// A file [`read_text`] will not read, and why.
fn refused(path: &Path, why: String) -> FileError {
    FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{why}; refusing to read it"),
        ),
    }
}

/// Whether `include` lines are followed or refused. Text that did not come from a
/// file (the fuzz targets' input; a conn handed over a socket) refuses them, so it
/// cannot make the reader glob or read this machine's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Includes {
    /// Resolve them relative to the including file.
    #[default]
    Follow,
    /// Each one is a syntax error.
    Refuse,
}

/// The error for an `include` in text parsed with [`Includes::Refuse`].
pub fn include_refused(path: &Path, line: usize) -> FileError {
    FileError::syntax(
        path,
        line,
        "include is not allowed here: this text is parsed on its own, so it cannot \
         name other files (put it in a file and read that)",
    )
}

/// The files an `include ARG` on `path:line` names, resolved relative to `path`'s
/// directory, refusing nesting deeper than [`MAX_INCLUDE_DEPTH`] (`depth` is the
/// including file's).
pub fn include_files(
    path: &Path,
    line: usize,
    depth: usize,
    arg: &str,
) -> Result<Vec<PathBuf>, FileError> {
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(FileError::syntax(
            path,
            line,
            format!("include nested deeper than {MAX_INCLUDE_DEPTH} levels (a loop?)"),
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    expand_include(base, arg).map_err(|e| FileError::syntax(path, line, e.to_string()))
}

/// Bytes from an even, non-zero number of hex digits of either case; `None` for
/// anything else. Callers strip their own prefixes (`0x`) and separators first.
pub fn decode_hex(digits: &str) -> Option<Vec<u8>> {
    let nibbles = digits
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()?;
    if nibbles.is_empty() || !nibbles.len().is_multiple_of(2) {
        return None;
    }
    Some(
        nibbles
            .chunks_exact(2)
            .map(|pair| pair.iter().fold(0, |byte, &n| (byte << 4) | n))
            .collect(),
    )
}

/// `s` without a leading `0x` or `0X`.
pub fn strip_hex_prefix(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Match one path component against a shell pattern (`*`, `?`, `[abc]`, `[a-z]`,
/// `[!x]`). Like the shell, `*` and `?` do not match a leading `.`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

/// Matches `n` against `p` in O(len(p) * len(n)) at worst: on a mismatch only the
/// last `*` seen takes one more character, which is enough for shell patterns (a
/// later `*` can match whatever an earlier one would have). The recursive way
/// tried every split for every `*` and took exponential time: an `include` of
/// `/*****...` hung the reader (found by the `ipsec_conf` fuzz target).
fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    // Where to go on after the last `*`: the pattern index after it, and how much
    // of the name it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if p.get(pi) == Some(&'*') {
            pi += 1;
            star = Some((pi, ni));
            continue;
        }
        if let Some(len) = p.get(pi).and_then(|_| one(p, pi, n[ni])) {
            pi += len;
            ni += 1;
            continue;
        }
        match star {
            Some((sp, taken)) => {
                pi = sp;
                ni = taken + 1;
                star = Some((sp, taken + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the pattern item at `p[pi]` (not `*`: `?`, a `[...]` set or a plain
/// character) matches `c`; if so, how many pattern characters it spans.
fn one(p: &[char], pi: usize, c: char) -> Option<usize> {
    match p[pi] {
        '?' => Some(1),
        '[' => {
            let Some(close) = p
                .iter()
                .skip(pi + 2)
                .position(|&x| x == ']')
                .map(|i| i + pi + 2)
            else {
                // Unclosed '[' is a literal.
                return (c == '[').then_some(1);
            };
            let set = &p[pi + 1..close];
            let (negate, set) = match set.first() {
                Some('!') | Some('^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            (hit != negate).then_some(close - pi + 1)
        }
        x => (x == c).then_some(1),
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expand an `include` argument: relative to `base_dir` unless absolute; glob
/// characters in any component are expanded; results are sorted. A pattern that
/// matches nothing gives an empty list (as libreswan does); a plain path is returned
/// as is, whether it exists or not, so the caller reports the missing file.
pub fn expand_include(base_dir: &Path, arg: &str) -> std::io::Result<Vec<PathBuf>> {
    let path = if Path::new(arg).is_absolute() {
        PathBuf::from(arg)
    } else {
        base_dir.join(arg)
    };
    if !has_glob(arg) {
        return Ok(vec![path]);
    }
    let mut found = vec![PathBuf::new()];
    for comp in path.components() {
        let part = comp.as_os_str().to_string_lossy().into_owned();
        let globbed = matches!(comp, Component::Normal(_)) && has_glob(&part);
        let mut next = Vec::new();
        for prefix in &found {
            if globbed {
                let dir = if prefix.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    prefix.as_path()
                };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| glob_match(&part, name))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|name| prefix.join(name)));
            } else {
                next.push(prefix.join(comp.as_os_str()));
            }
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found.sort();
    Ok(found)
}

/// Remove a `#` comment: a `#` at the start of the line or after whitespace, outside
/// quotes (so IDs like `@#0a1b` keep their `#`).
pub fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// A word of a line and whether it was quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text, quotes removed.
    pub text: String,
    /// Was it in quotes?
    pub quoted: bool,
}

/// Split on whitespace, keeping `"quoted strings"` (and `'single'`) as single words.
/// Inside double quotes `\"` and `\\` are escapes. Returns `None` on an unclosed quote.
pub fn split_words(s: &str) -> Option<Vec<Word>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next()? {
                    '\\' if c == '"' => text.push(chars.next()?),
                    x if x == c => break,
                    x => text.push(x),
                }
            }
            out.push(Word { text, quoted: true });
        } else {
            let mut text = String::new();
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() || x == '"' {
                    break;
                }
                text.push(x);
                chars.next();
            }
            out.push(Word {
                text,
                quoted: false,
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        assert_eq!(decode_hex("00aBff"), Some(vec![0x00, 0xab, 0xff]));
        for bad in ["", "a", "abc", "0g", "é1", "0x00"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
        assert_eq!(strip_hex_prefix("0X0a"), "0a");
        assert_eq!(strip_hex_prefix("x0a"), "x0a");
    }

    #[test]
    fn include_depth_and_missing_files() {
        let conf = Path::new("/nonexistent/ipsec.conf");
        let e = include_files(conf, 3, MAX_INCLUDE_DEPTH, "x.conf").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/ipsec.conf:3: include nested"),
            "{e}"
        );
        assert!(matches!(read_text(conf), Err(FileError::Io { .. })));
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(!glob_match("*.conf", "a.secrets"));
        assert!(!glob_match("*.conf", ".hidden.conf"));
        assert!(glob_match("?.secrets", "x.secrets"));
        assert!(glob_match("[ab]*", "beta"));
        assert!(!glob_match("[!ab]*", "beta"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(glob_match("lit", "lit"));
        assert!(!glob_match("lit", "lit2"));
    }

    /// The old recursive matcher, the definition the linear one must agree with.
    fn reference(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => {
                (0..=n.len()).any(|i| n.get(i..).is_some_and(|rest| reference(&p[1..], rest)))
            }
            Some('?') => !n.is_empty() && reference(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let Some(close) = p.iter().skip(2).position(|&x| x == ']').map(|i| i + 2) else {
                    // Unclosed '[' is a literal.
                    return *c == '[' && reference(&p[1..], &n[1..]);
                };
                let set = &p[1..close];
                let (negate, set) = match set.first() {
                    Some('!') | Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && reference(&p[close + 1..], &n[1..])
            }
            Some(x) => n.first() == Some(x) && reference(&p[1..], &n[1..]),
        }
    }

    #[test]
    fn glob_matching_agrees_with_the_recursive_definition() {
        let alphabet = ['a', 'b', '*', '?', '[', ']', '!', '-'];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        for _ in 0..20_000 {
            let p: Vec<char> = (0..next(7))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let n: Vec<char> = (0..next(7))
                .map(|_| ['a', 'b', '[', '-'][next(4)])
                .collect();
            assert_eq!(match_from(&p, &n), reference(&p, &n), "{p:?} {n:?}");
        }
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        // The fuzz input's shape: a hundred stars that can never all match.
        let pattern = format!("{}x", "*".repeat(100));
        assert!(!glob_match(&pattern, &"a".repeat(60)));
        assert!(glob_match(&pattern, &format!("{}x", "a".repeat(60))));
    }

    #[test]
    fn comments_respect_quotes() {
        assert_eq!(strip_comment("a = b # c"), "a = b ");
        assert_eq!(strip_comment(r#"x "a#b" # c"#), r#"x "a#b" "#);
        assert_eq!(strip_comment("'#' y"), "'#' y");
        assert_eq!(strip_comment("@#0a1b : PSK"), "@#0a1b : PSK");
        assert_eq!(strip_comment("# all"), "");
    }

    #[test]
    fn words_and_quotes() {
        let w = split_words(r#"@a  "b c" 'd "e' "x\"y""#).unwrap();
        let t: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(t, ["@a", "b c", "d \"e", "x\"y"]);
        assert!(!w[0].quoted && w[1].quoted);
        assert!(split_words("\"open").is_none());
    }

    #[test]
    fn include_expansion() {
        let dir = std::env::temp_dir().join(format!("conn-glob-{}", std::process::id()));
        let sub = dir.join("d");
        std::fs::create_dir_all(&sub).unwrap();
        for f in ["b.conf", "a.conf", "c.txt"] {
            std::fs::write(sub.join(f), "").unwrap();
        }
        let got = expand_include(&dir, "d/*.conf").unwrap();
        assert_eq!(got, vec![sub.join("a.conf"), sub.join("b.conf")]);
        let got = expand_include(&dir, &format!("{}/*/?.txt", dir.display())).unwrap();
        assert_eq!(got, vec![sub.join("c.txt")]);
        assert!(expand_include(&dir, "nothing/*.conf").unwrap().is_empty());
        assert_eq!(
            expand_include(&dir, "plain.conf").unwrap(),
            vec![dir.join("plain.conf")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
