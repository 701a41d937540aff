//! The `#[service]` attribute of tower-ipc. Use it as
//! `#[tower_ipc::service]` with tower-ipc's `macros` feature; its docs are
//! in `tower_ipc::service`.

use proc_macro::TokenStream;

mod expand;
mod parse;

/// Defines a service by a trait of `async fn`s and generates its server
/// and typed client; see `tower_ipc::service`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    match parse::Service::parse(args, item) {
        Ok(service) => expand::expand(&service).into(),
        Err(err) => err.to_compile_error().into(),
    }
}
