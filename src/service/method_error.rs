use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

use crate::{jsonrpc::ErrorObject, typed::Rejected};

/// An error a service method returns (`Result<T, E>` in the trait): how it
/// travels to the client and back.
///
/// On the wire it is an error object: a code ([`code`](Self::code), 1
/// unless you choose), its `Display` text as the message, and the error
/// itself, serialized as JSON, as the data. Callers in other languages see
/// an ordinary JSON-RPC error; a Rust client gets the `E` back. Implement it
/// with one line:
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// enum MathError { DivideByZero }
///
/// impl std::fmt::Display for MathError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("divide by zero")
///     }
/// }
///
/// impl tower_ipc::service::MethodError for MathError {}
/// ```
///
/// [`ErrorObject`] is one (it travels as itself, code and all), and so is
/// `String`. A method error type that is not one does not compile, and the
/// compiler says how to make it one:
///
/// ```compile_fail
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct Oops;
///
/// #[tower_ipc::service]
/// trait Calc {
///     async fn div(&self, a: i64, b: i64) -> Result<i64, Oops>;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a service method's error type, but not a `MethodError`",
    label = "this error type must implement `tower_ipc::service::MethodError`",
    note = "with `Serialize`, `Deserialize` and `Display`, one line does it: `impl tower_ipc::service::MethodError for {Self} {{}}`"
)]
pub trait MethodError: Serialize + DeserializeOwned + fmt::Display + Send + 'static {
    /// The error code on the wire. JSON-RPC leaves every code outside
    /// -32768 to -32000 to applications.
    fn code(&self) -> i64 {
        1
    }

    /// This error as an error object.
    #[doc(hidden)]
    fn into_rejected(self) -> Rejected {
        let data = serde_json::to_string(&self).ok();
        let rejected = Rejected::new(self.code(), self.to_string());
        match data {
            Some(data) => rejected.with_data(data),
            None => rejected,
        }
    }

    /// The error an error object holds, if it holds one of this type.
    #[doc(hidden)]
    fn from_rejected(rejected: Rejected) -> Result<Self, Rejected> {
        match rejected.data().map(serde_json::from_str) {
            Some(Ok(err)) => Ok(err),
            _ => Err(rejected),
        }
    }
}

impl MethodError for String {}

impl MethodError for ErrorObject {
    fn code(&self) -> i64 {
        ErrorObject::code(self)
    }

    fn into_rejected(self) -> Rejected {
        let rejected = Rejected::new(self.code(), self.message().to_owned());
        match self.data() {
            Some(data) => rejected.with_data(data.get()),
            None => rejected,
        }
    }

    fn from_rejected(rejected: Rejected) -> Result<Self, Rejected> {
        Ok(error_object(rejected))
    }
}

/// A rejection as a JSON-RPC error object.
pub(crate) fn error_object(rejected: Rejected) -> ErrorObject {
    let object = ErrorObject::new(rejected.code(), rejected.message().to_owned());
    match rejected
        .data()
        .and_then(|data| serde_json::from_str::<&serde_json::value::RawValue>(data).ok())
    {
        Some(data) => object.with_data(data),
        None => object,
    }
}

/// A JSON-RPC error object as a rejection.
pub(crate) fn rejected(object: &ErrorObject) -> Rejected {
    let rejected = Rejected::new(object.code(), object.message().to_owned());
    match object.data() {
        Some(data) => rejected.with_data(data.get()),
        None => rejected,
    }
}
