//! PARAMS in: the argument, or standard input for `-`.
//!
//! JSON is passed through as text ([`RawValue`]): numbers too large for
//! `f64`, the order of keys and every escape reach the server exactly as
//! written.

use std::io::Read;

use serde_json::value::RawValue;

use crate::failure::Failure;

/// Reads PARAMS: the argument itself, or standard input when it is `-`.
/// Params must be an array (by position) or an object (by name), as
/// JSON-RPC requires.
pub(crate) fn read(arg: Option<&str>) -> Result<Option<Box<RawValue>>, Failure> {
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
fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|err| Failure::usage(format_args!("cannot read stdin: {err}")))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_must_be_an_array_or_an_object() {
        assert_eq!(read(Some("[1, 2]")).unwrap().unwrap().get(), "[1, 2]");
        assert_eq!(
            read(Some(" {\"a\":1} ")).unwrap().unwrap().get(),
            "{\"a\":1}"
        );
        assert!(read(None).unwrap().is_none());
        let scalar = read(Some("5")).unwrap_err();
        assert_eq!(scalar.exit(), crate::failure::Exit::Usage);
        assert!(scalar.to_string().contains("`[5]`"), "{scalar}");
        let broken = read(Some("[1,")).unwrap_err();
        assert_eq!(broken.exit(), crate::failure::Exit::Usage);
        assert!(
            broken.to_string().starts_with("PARAMS is not JSON"),
            "{broken}"
        );
    }
}
