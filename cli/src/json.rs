//! Results out: JSON text rewritten compactly or indented.
//!
//! JSON is passed through as text: numbers too large for `f64`, the order
//! of keys and every escape reach the terminal exactly as the server wrote
//! them.

/// Rewrites valid JSON text compactly, or indented by two spaces, keeping
/// every token as it is.
pub(crate) fn format(json: &str, pretty: bool) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + json.len() / 2);
    let mut depth = 0;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        if pretty {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", depth));
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                let end = string_end(bytes, i);
                out.push_str(&json[i..end]);
                i = end;
                continue;
            }
            open @ (b'{' | b'[') => {
                out.push(open as char);
                let next = skip_whitespace(bytes, i + 1);
                if matches!(bytes.get(next), Some(b'}' | b']')) {
                    // `{}` and `[]` stay on one line.
                    out.push(bytes[next] as char);
                    i = next + 1;
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            close @ (b'}' | b']') => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(close as char);
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(if pretty { ": " } else { ":" }),
            _ => {
                // A number or a literal: copy up to the next delimiter.
                let end = bytes[i..]
                    .iter()
                    .position(|b| b" \t\n\r,:]}".contains(b))
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&json[i..end]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The index just past the string that starts at `start` (its opening quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSY: &str =
        " { \"a\" : [1, 2.50e3 ,{}], \"s\": \"x, y: {\\\"z\\\"} \\\\\", \"n\":null,\"e\":[ ] } ";

    #[test]
    fn compact_removes_whitespace_outside_strings_only() {
        assert_eq!(
            format(MESSY, false),
            r#"{"a":[1,2.50e3,{}],"s":"x, y: {\"z\"} \\","n":null,"e":[]}"#
        );
    }

    #[test]
    fn pretty_indents_by_two_spaces_and_keeps_tokens() {
        let expected = r#"{
  "a": [
    1,
    2.50e3,
    {}
  ],
  "s": "x, y: {\"z\"} \\",
  "n": null,
  "e": []
}"#;
        assert_eq!(format(MESSY, true), expected);
    }

    #[test]
    fn scalars_and_big_numbers_pass_through() {
        assert_eq!(
            format("123456789012345678901234567890", true),
            "123456789012345678901234567890"
        );
        assert_eq!(format(" \"héllo\" ", false), "\"héllo\"");
        assert_eq!(format("true", true), "true");
    }
}
