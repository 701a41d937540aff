//! PARAMS in, results out.
//!
//! JSON is passed through as text ([`RawValue`]): numbers too large for
//! `f64`, the order of keys and every escape reach the server, and the
//! terminal, exactly as written.

use std::io::Read;

use serde_json::value::RawValue;

use crate::failure::Failure;

/// Reads PARAMS: the argument itself, or standard input when it is `-`.
/// Params must be an array (by position) or an object (by name), as
/// JSON-RPC requires.
pub(crate) fn params(arg: Option<&str>) -> Result<Option<Box<RawValue>>, Failure> {
    let Some(arg) = arg else {
        return Ok(None);
    };
    let (text, source) = match arg {
        "-" => (read_stdin()?, "PARAMS from stdin"),
        arg => (arg.to_owned(), "PARAMS"),
    };
    let params: Box<RawValue> = serde_json::from_str(&text)
        .map_err(|err| Failure::usage(format_args!("{source} is not JSON: {err}")))?;
    match params.get().as_bytes().first() {
        Some(b'[' | b'{') => Ok(Some(params)),
        _ => Err(Failure::usage(format_args!(
            "{source} must be a JSON array (params by position) or object (by name), \
             not `{}`; wrap a single value as `[{}]`",
            params.get(),
            params.get()
        ))),
    }
}

/// All of standard input, as text.
pub(crate) fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|err| Failure::usage(format_args!("cannot read stdin: {err}")))?;
    Ok(text)
}

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

    #[test]
    fn params_must_be_an_array_or_an_object() {
        assert_eq!(params(Some("[1, 2]")).unwrap().unwrap().get(), "[1, 2]");
        assert_eq!(
            params(Some(" {\"a\":1} ")).unwrap().unwrap().get(),
            "{\"a\":1}"
        );
        assert!(params(None).unwrap().is_none());
        let scalar = params(Some("5")).unwrap_err();
        assert_eq!(scalar.exit(), crate::failure::Exit::Usage);
        assert!(scalar.to_string().contains("`[5]`"), "{scalar}");
        let broken = params(Some("[1,")).unwrap_err();
        assert_eq!(broken.exit(), crate::failure::Exit::Usage);
        assert!(
            broken.to_string().starts_with("PARAMS is not JSON"),
            "{broken}"
        );
    }
}
