//! Making process-supplied text safe to print.
//!
//! A process chooses its own name, command line and (via the path it was run
//! from) its exe. Any of them can carry terminal escape sequences (OSC title
//! changes, cursor moves, screen clears), BEL, newlines, or Unicode bidi
//! overrides that reorder what the reader sees. Every string that came from a
//! process goes through [`escape`] before it reaches a terminal; JSON output
//! is escaped by serde_json instead (it stays valid and lossless).
//!
//! Invalid UTF-8 never gets this far: [`decode`] turns it into `\xNN` text at
//! the point where bytes are read from `/proc`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// "1 row", "3 rows": a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Is `c` a character that must not reach a terminal raw?
///
/// C0 controls, DEL, C1 controls (0x80–0x9f: some terminals treat 0x9b as
/// CSI), Unicode bidi embedding/override/isolate marks and the line and
/// paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{feff}'
        )
}

/// Escape every unsafe character: `\n`, `\t`, `\r`, `\e` for ESC, `\xNN`
/// for other ASCII/C1 controls, `\u{NNNN}` for Unicode format marks.
/// Printable text (backslashes included) passes through unchanged, so a
/// harmless name is shown exactly as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Escape, then cut to at most `max` characters, ending with `…` when cut.
/// Cuts never split an escape sequence's meaning: escaping happens first, so
/// the worst a cut does is shorten `\x1b` to `\x…`, which is still inert.
pub fn escape_trunc(s: &str, max: usize) -> String {
    let e = escape(s);
    truncate(&e, max)
}

/// Cut already-safe text to at most `max` characters, ending with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep: String = s.chars().take(max - 1).collect();
            keep + "…"
        }
    }
}

/// Marks text shown shortened where the reader might take it for whole (a
/// command line in `why`, a plan, piped `list`).
pub const CUT: &str = "…(cut)";

/// Cut already-safe text to at most `max` characters, ending with
/// [`CUT`] when cut (`…` alone when `max` is too small for the mark).
pub fn truncate_cut(s: &str, max: usize) -> String {
    let mark = CUT.chars().count();
    if max <= mark || s.chars().nth(max).is_none() {
        return truncate(s, max);
    }
    let keep: String = s.chars().take(max - mark).collect();
    keep + CUT
}

/// Decode bytes read from `/proc` into a `String`: valid UTF-8 as is, each
/// invalid byte as the four characters `\xNN`. Lossy for the (rare) name
/// that literally contains `\xNN`, but never lossy in what a person sees.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            out
        }
    }
}

/// Make serialized JSON safe to print on a terminal, losslessly: serde_json
/// escapes only characters below U+0020, so DEL, C1 controls and bidi
/// overrides would reach the terminal raw. Those can only occur inside JSON
/// strings, where `\uXXXX` means the same character, so the document stays
/// valid and decodes to the same strings.
pub fn json_safe(json: String) -> String {
    if !json.chars().any(is_unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged_and_borrowed() {
        assert!(matches!(escape("node server.js"), Cow::Borrowed(_)));
        assert_eq!(escape("a\\b ünïcødé"), "a\\b ünïcødé");
    }

    #[test]
    fn hostile_sequences_are_inert() {
        let osc = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H";
        assert_eq!(escape(osc), "evil\\e]0;pwned\\x07\\e[2J\\e[H");
        assert_eq!(escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(escape("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
        assert_eq!(escape("\u{7f}"), "\\x7f");
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(decode(b"ok\xff\xfeok"), "ok\\xff\\xfeok");
        assert_eq!(decode("fine".as_bytes()), "fine");
    }

    #[test]
    fn json_is_terminal_safe_and_lossless() {
        let raw = serde_json::to_string(&["ev\u{1b}[2J\u{7f}\u{9b}\u{202e}il"]).expect("json");
        let safe = json_safe(raw);
        assert!(!safe.chars().any(is_unsafe_char), "{safe}");
        let back: Vec<String> = serde_json::from_str(&safe).expect("still valid");
        assert_eq!(back, vec!["ev\u{1b}[2J\u{7f}\u{9b}\u{202e}il"]);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(escape_trunc("\u{1b}[2Jxxxxxxxx", 6), "\\e[2J…");
        assert_eq!(truncate_cut("abcdefghijkl", 10), "abcd…(cut)");
        assert_eq!(truncate_cut("abcdefghij", 10), "abcdefghij");
        assert_eq!(truncate_cut("abcdefghij", 3), "ab…");
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a process names itself, the escaped form has no byte a
        /// terminal would act on.
        #[test]
        fn escaped_output_has_no_control_chars(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(is_unsafe_char), "{e:?}");
            prop_assert!(!e.bytes().any(|b| b < 0x20 || b == 0x7f));
        }

        /// Printable text is shown exactly as it is.
        #[test]
        fn printable_text_round_trips(s in "[^\\p{Cc}\\p{Cf}\u{2028}\u{2029}]*") {
            let e = escape(&s);
            prop_assert_eq!(e.as_ref(), s.as_str());
        }

        /// Any bytes decode to a string that then escapes to safe text, and
        /// valid UTF-8 decodes unchanged.
        #[test]
        fn decode_then_escape_is_safe(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let d = decode(&b);
            if let Ok(s) = std::str::from_utf8(&b) {
                prop_assert_eq!(d.as_str(), s);
            }
            prop_assert!(!escape(&d).bytes().any(|c| c < 0x20 || c == 0x7f));
        }

        /// Truncation never exceeds its budget.
        #[test]
        fn truncate_respects_width(s in any::<String>(), n in 0usize..50) {
            prop_assert!(escape_trunc(&s, n).chars().count() <= n);
        }
    }
}
