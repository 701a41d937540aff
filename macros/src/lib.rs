//! The `#[service]` attribute of tower-ipc; use it as
//! `#[tower_ipc::service]` (feature `macros`).

use proc_macro::TokenStream;

/// See `tower_ipc::service`.
#[proc_macro_attribute]
pub fn service(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
