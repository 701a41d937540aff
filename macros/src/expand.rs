//! Writes the trait back, and its server, client and params types.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, ReturnType, TraitItem, Type};

use crate::parse::{Kind, Method, Service};

pub(crate) fn expand(service: &Service) -> TokenStream {
    let the_trait = expand_trait(service);
    let params = service
        .methods
        .iter()
        .map(|method| expand_params(service, method));
    let server = expand_server(service);
    let client = expand_client(service);
    quote! {
        #the_trait
        #(#params)*
        #server
        #client
    }
}

/// `add` -> `Add`, `get_balance` -> `GetBalance`.
fn camel(ident: &Ident) -> Ident {
    let mut out = String::new();
    for part in ident.to_string().trim_start_matches("r#").split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    Ident::new(&out, ident.span())
}

fn params_ident(service: &Service, method: &Method) -> Ident {
    format_ident!("__{}{}Params", service.item.ident, camel(&method.ident))
}

fn info_ident(service: &Service) -> Ident {
    format_ident!(
        "__{}_SERVICE_INFO",
        service.item.ident.to_string().to_uppercase()
    )
}

/// The trait, each `async fn` declared to return a `Send` future, `#[rpc]`
/// attributes gone.
fn expand_trait(service: &Service) -> TokenStream {
    let mut item = service.item.clone();
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Send));
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    if item.colon_token.is_none() {
        item.colon_token = Some(Default::default());
    }
    for (trait_item, method) in item.items.iter_mut().zip(&service.methods) {
        let TraitItem::Fn(function) = trait_item else {
            unreachable!("checked when parsed")
        };
        function.attrs = method.attrs.clone();
        let sig = &mut function.sig;
        sig.asyncness = None;
        let output: Type = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        sig.output = syn::parse_quote! {
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
    }
    quote!(#item)
}

/// A method's params: a struct of its arguments that travels as a sequence
/// (trailing `None`s left out), and is read from a sequence, a map of
/// names (JSON), or nothing.
fn expand_params(service: &Service, method: &Method) -> TokenStream {
    let ident = params_ident(service, method);
    let names: Vec<&Ident> = method.args.iter().map(|arg| &arg.ident).collect();
    let name_strs: Vec<String> = names
        .iter()
        .map(|name| name.to_string().trim_start_matches("r#").to_owned())
        .collect();
    let types: Vec<&Type> = method.args.iter().map(|arg| &arg.ty).collect();
    let count = method.args.len();
    let indices: Vec<usize> = (0..count).collect();
    let p = quote!(::tower_ipc::service::private);
    // Trailing `None`s are left out, so a client that knows of a new
    // optional argument still talks to servers that do not.
    let trims = method
        .args
        .iter()
        .enumerate()
        .rev()
        .take_while(|(_, arg)| arg.optional)
        .map(|(i, arg)| {
            let name = &arg.ident;
            quote! {
                if len == #i + 1 && self.#name.is_none() {
                    len = #i;
                }
            }
        });
    let takes = method.args.iter().map(|arg| {
        let name = &arg.ident;
        let name_str = name.to_string();
        let name_str = name_str.trim_start_matches("r#");
        if arg.optional {
            quote!(#name: #p::optional(#name))
        } else {
            quote!(#name: #p::required(#name, #name_str)?)
        }
    });
    let takes: Vec<TokenStream> = takes.collect();
    let expecting = format!(
        "the params of `{}`: [{}]",
        method.name,
        name_strs.join(", ")
    );
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #ident {
            #(#names: #types,)*
        }

        impl #p::serde::Serialize for #ident {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: #p::serde::Serializer,
            {
                use #p::serde::ser::SerializeSeq as _;
                #[allow(unused_mut)]
                let mut len: usize = #count;
                #(#trims)*
                let mut seq = serializer.serialize_seq(::core::option::Option::Some(len))?;
                #(
                    if len > #indices {
                        seq.serialize_element(&self.#names)?;
                    }
                )*
                seq.end()
            }
        }

        impl<'de> #p::serde::Deserialize<'de> for #ident {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: #p::serde::Deserializer<'de>,
            {
                struct Params;

                impl<'de> #p::serde::de::Visitor<'de> for Params {
                    type Value = #ident;

                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(#expecting)
                    }

                    #[allow(unused_mut)]
                    fn visit_seq<A>(self, mut seq: A) -> ::core::result::Result<#ident, A::Error>
                    where
                        A: #p::serde::de::SeqAccess<'de>,
                    {
                        #(let #names = seq.next_element::<#types>()?;)*
                        #p::no_more_params(&mut seq, #count)?;
                        ::core::result::Result::Ok(#ident { #(#takes,)* })
                    }

                    #[allow(unused_mut)]
                    fn visit_map<A>(self, mut map: A) -> ::core::result::Result<#ident, A::Error>
                    where
                        A: #p::serde::de::MapAccess<'de>,
                    {
                        #(let mut #names: ::core::option::Option<#types> = ::core::option::Option::None;)*
                        while let ::core::option::Option::Some(key) = #p::param_name(&mut map)? {
                            match key.as_str() {
                                #(#name_strs => #p::set(&mut #names, #name_strs, #p::next_value(&mut map)?)?,)*
                                other => return ::core::result::Result::Err(
                                    #p::unknown_param(other, &[#(#name_strs),*]),
                                ),
                            }
                        }
                        ::core::result::Result::Ok(#ident { #(#takes,)* })
                    }

                    fn visit_unit<E>(self) -> ::core::result::Result<#ident, E>
                    where
                        E: #p::serde::de::Error,
                    {
                        #(let #names: ::core::option::Option<#types> = ::core::option::Option::None;)*
                        ::core::result::Result::Ok(#ident { #(#takes,)* })
                    }
                }

                #p::deserialize_params(deserializer, Params)
            }
        }
    }
}

fn expand_server(service: &Service) -> TokenStream {
    let vis = &service.item.vis;
    let name = &service.item.ident;
    let name_str = name.to_string();
    let server = format_ident!("{}Server", name);
    let info = info_ident(service);
    let version = match &service.version {
        Some(version) => quote!(#version),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let p = quote!(::tower_ipc::service::private);
    let routes = service.methods.iter().map(|method| {
        let params = params_ident(service, method);
        let ident = &method.ident;
        let wire = &method.name;
        let fields: Vec<&Ident> = method.args.iter().map(|arg| &arg.ident).collect();
        let call = quote!(service.#ident(#(params.#fields),*).await);
        match &method.kind {
            Kind::Plain(_) | Kind::Notification => quote! {
                let router = router.method(#wire, {
                    let service = ::std::sync::Arc::clone(&service);
                    move |params: #params| {
                        let service = ::std::sync::Arc::clone(&service);
                        async move {
                            ::core::result::Result::Ok::<_, ::tower_ipc::jsonrpc::ErrorObject>(#call)
                        }
                    }
                });
            },
            Kind::Fallible { .. } => quote! {
                let router = router.method(#wire, {
                    let service = ::std::sync::Arc::clone(&service);
                    move |params: #params| {
                        let service = ::std::sync::Arc::clone(&service);
                        async move { #call.map_err(#p::error_object) }
                    }
                });
            },
            Kind::Subscription { .. } => {
                let subscribe = format!("{wire}_subscribe");
                let unsubscribe = format!("{wire}_unsubscribe");
                quote! {
                    let router = router.subscription(
                        #p::Subscription::new(#subscribe, #wire, #unsubscribe),
                        {
                            let service = ::std::sync::Arc::clone(&service);
                            move |params: #params| {
                                let service = ::std::sync::Arc::clone(&service);
                                async move {
                                    ::core::result::Result::Ok::<_, ::tower_ipc::jsonrpc::ErrorObject>(#call)
                                }
                            }
                        },
                    );
                }
            }
        }
    });
    let dispatch = service.methods.iter().map(|method| {
        let params = params_ident(service, method);
        let ident = &method.ident;
        let wire = &method.name;
        let fields: Vec<&Ident> = method.args.iter().map(|arg| &arg.ident).collect();
        let run = quote! {
            move |params: #params| async move { service.#ident(#(params.#fields),*).await }
        };
        let names: Vec<String> = method
            .args
            .iter()
            .map(|arg| {
                let name = arg.ident.to_string();
                let name = name.trim_start_matches("r#");
                match arg.optional {
                    true => format!("{name}?"),
                    false => name.to_owned(),
                }
            })
            .collect();
        let names = quote!(&[#(#names),*]);
        match &method.kind {
            Kind::Plain(_) => quote!(#wire => #p::reply(&#info, call, #names, #run),),
            Kind::Fallible { .. } => {
                quote!(#wire => #p::reply_fallible(&#info, call, #names, #run),)
            }
            Kind::Notification => quote!(#wire => #p::notified(&#info, call, #names, #run),),
            Kind::Subscription { .. } => {
                let subscribe = format!("{wire}_subscribe");
                quote!(#subscribe => #p::subscribe(&#info, call, #names, #run),)
            }
        }
    });
    let doc = format!(
        "The server of [`{name_str}`]: a [`tower::Service`] of JSON-RPC requests (serve it \
         with `tower_ipc::jsonrpc::JsonRpc`) and of typed-frames calls (serve it with \
         `tower_ipc::service::Frames`), made from any implementation of the trait. Cheap to \
         clone: clones share the implementation."
    );
    quote! {
        #[doc(hidden)]
        static #info: ::tower_ipc::service::ServiceInfo = ::tower_ipc::service::ServiceInfo {
            name: #name_str,
            version: #version,
        };

        #[doc = #doc]
        #vis struct #server<T> {
            service: ::std::sync::Arc<T>,
            json_rpc: #p::JsonRpcServer,
        }

        #[allow(dead_code)]
        impl<T: #name> #server<T> {
            /// The service's name and version.
            #vis const INFO: ::tower_ipc::service::ServiceInfo = #info;

            /// Serves `service`.
            #vis fn new(service: T) -> Self {
                Self::from_arc(::std::sync::Arc::new(service))
            }

            /// Serves `service`, which the caller keeps a handle on.
            #vis fn from_arc(service: ::std::sync::Arc<T>) -> Self {
                let router = #p::JsonRpcRouter::new();
                #(#routes)*
                Self {
                    service,
                    json_rpc: #p::JsonRpcServer::new(router, &#info),
                }
            }

            /// The implementation.
            #vis fn get_ref(&self) -> &T {
                &self.service
            }
        }

        impl<T> ::core::clone::Clone for #server<T> {
            fn clone(&self) -> Self {
                Self {
                    service: ::std::sync::Arc::clone(&self.service),
                    json_rpc: ::core::clone::Clone::clone(&self.json_rpc),
                }
            }
        }

        impl<T> ::core::fmt::Debug for #server<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#server)).finish_non_exhaustive()
            }
        }

        impl<T: #name> #p::Service<::tower_ipc::jsonrpc::Call> for #server<T> {
            type Response = ::tower_ipc::jsonrpc::Response;
            type Error = ::core::convert::Infallible;
            type Future = #p::VersionedFuture;

            fn poll_ready(
                &mut self,
                cx: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::core::result::Result<(), ::core::convert::Infallible>> {
                #p::Service::<::tower_ipc::jsonrpc::Call>::poll_ready(&mut self.json_rpc, cx)
            }

            fn call(&mut self, call: ::tower_ipc::jsonrpc::Call) -> Self::Future {
                #p::Service::call(&mut self.json_rpc, call)
            }
        }

        impl<T: #name> #p::Service<::tower_ipc::service::Call> for #server<T> {
            type Response = ::tower_ipc::service::Answer;
            type Error = ::core::convert::Infallible;
            type Future = #p::FramesFuture;

            fn poll_ready(
                &mut self,
                _: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::core::result::Result<(), ::core::convert::Infallible>> {
                ::core::task::Poll::Ready(::core::result::Result::Ok(()))
            }

            fn call(&mut self, call: ::tower_ipc::service::Call) -> Self::Future {
                let service = ::std::sync::Arc::clone(&self.service);
                let method: &str = call.method();
                match method {
                    #(#dispatch)*
                    _ => #p::unknown(&#info, &call),
                }
            }
        }
    }
}

fn expand_client(service: &Service) -> TokenStream {
    let vis = &service.item.vis;
    let name = &service.item.ident;
    let name_str = name.to_string();
    let client = format_ident!("{}Client", name);
    let request = format_ident!("{}Request", name);
    let response = format_ident!("{}Response", name);
    let info = info_ident(service);
    let p = quote!(::tower_ipc::service::private);
    let error = quote!(::tower_ipc::service::Error);

    let methods = service.methods.iter().map(|method| {
        let params = params_ident(service, method);
        let ident = &method.ident;
        let wire = &method.name;
        let attrs = &method.attrs;
        let args = method.args.iter().map(|arg| {
            let (ident, ty) = (&arg.ident, &arg.ty);
            quote!(#ident: #ty)
        });
        let fields: Vec<&Ident> = method.args.iter().map(|arg| &arg.ident).collect();
        let build = quote!(&#params { #(#fields),* });
        match &method.kind {
            Kind::Plain(ty) => quote! {
                #(#attrs)*
                ///
                /// Fails with an error when no answer came from the method.
                #vis async fn #ident(&self, #(#args),*) -> ::core::result::Result<#ty, #error> {
                    self.rpc.call::<_, #ty>(&#info, #wire, #build).await
                }
            },
            Kind::Fallible { ok, err } => quote! {
                #(#attrs)*
                ///
                /// The outer error: no answer came from the method; the inner one is
                /// the method's.
                #vis async fn #ident(
                    &self,
                    #(#args),*
                ) -> ::core::result::Result<::core::result::Result<#ok, #err>, #error> {
                    self.rpc.call_fallible::<_, #ok, #err>(&#info, #wire, #build).await
                }
            },
            Kind::Notification => quote! {
                #(#attrs)*
                ///
                /// A notification: its result is not sent back. Completes once the message
                /// is written (JSON-RPC), or acknowledged (typed frames).
                #vis async fn #ident(&self, #(#args),*) -> ::core::result::Result<(), #error> {
                    self.rpc.notify(&#info, #wire, #build).await
                }
            },
            Kind::Subscription { item, .. } => {
                let subscribe = format!("{wire}_subscribe");
                let unsubscribe = format!("{wire}_unsubscribe");
                quote! {
                    #(#attrs)*
                    ///
                    /// A subscription: its items arrive on the stream; dropping it
                    /// unsubscribes.
                    #vis async fn #ident(
                        &self,
                        #(#args),*
                    ) -> ::core::result::Result<::tower_ipc::service::Items<#item>, #error> {
                        let subscription = #p::Subscription::new(#subscribe, #wire, #unsubscribe);
                        self.rpc.subscribe(&#info, #subscribe, &subscription, #build).await
                    }
                }
            }
        }
    });

    let variants = service.methods.iter().map(|method| {
        let variant = camel(&method.ident);
        let doc = format!("A call of [`{name_str}::{}`].", method.ident);
        let fields = method.args.iter().map(|arg| {
            let (ident, ty) = (&arg.ident, &arg.ty);
            let doc = format!("The `{}` argument.", arg.ident);
            quote!(#[doc = #doc] #ident: #ty)
        });
        quote!(#[doc = #doc] #variant { #(#fields),* })
    });
    let response_variants = service.methods.iter().map(|method| {
        let variant = camel(&method.ident);
        let doc = format!("The answer of [`{name_str}::{}`].", method.ident);
        match &method.kind {
            Kind::Plain(ty) => quote!(#[doc = #doc] #variant(#ty)),
            Kind::Fallible { ok, err } => {
                quote!(#[doc = #doc] #variant(::core::result::Result<#ok, #err>))
            }
            Kind::Notification => quote!(#[doc = #doc] #variant),
            Kind::Subscription { item, .. } => {
                quote!(#[doc = #doc] #variant(::tower_ipc::service::Items<#item>))
            }
        }
    });
    let calls = service.methods.iter().map(|method| {
        let variant = camel(&method.ident);
        let ident = &method.ident;
        let fields: Vec<&Ident> = method.args.iter().map(|arg| &arg.ident).collect();
        let result = match method.kind {
            Kind::Notification => quote!(.map(|()| #response::#variant)),
            _ => quote!(.map(#response::#variant)),
        };
        quote! {
            #request::#variant { #(#fields),* } => client.#ident(#(#fields),*).await #result,
        }
    });
    let request_names = service.methods.iter().map(|method| {
        let variant = camel(&method.ident);
        let variant_str = variant.to_string();
        quote!(Self::#variant { .. } => #variant_str,)
    });
    let response_names = service.methods.iter().map(|method| {
        let variant = camel(&method.ident);
        let variant_str = variant.to_string();
        match method.kind {
            Kind::Notification => quote!(Self::#variant => #variant_str,),
            _ => quote!(Self::#variant(..) => #variant_str,),
        }
    });
    let client_doc = format!(
        "A typed client of [`{name_str}`]: one method per trait method, over JSON-RPC or \
         typed frames (see `tower_ipc::service::RpcClient`). Cheap to clone: clones share \
         the connection. It is a [`tower::Service`] of [`{request}`] too."
    );
    let request_doc =
        format!("A call of a [`{name_str}`] method, for [`{client}`] as a `tower::Service`.");
    let response_doc =
        format!("The answer of a [`{name_str}`] method, by [`{client}`] as a `tower::Service`.");
    quote! {
        #[doc = #client_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            rpc: ::tower_ipc::service::RpcClient,
        }

        #[allow(dead_code)]
        impl #client {
            /// The service's name and version, as this client was built.
            #vis const INFO: ::tower_ipc::service::ServiceInfo = #info;

            /// A client calling through `rpc` (a `JsonRpcClient`, or an `RpcClient` of
            /// typed frames).
            #vis fn new(rpc: impl ::core::convert::Into<::tower_ipc::service::RpcClient>) -> Self {
                Self { rpc: rpc.into() }
            }

            /// The connection this client calls through.
            #vis fn rpc(&self) -> &::tower_ipc::service::RpcClient {
                &self.rpc
            }

            #(#methods)*
        }

        #[doc = #request_doc]
        #[allow(dead_code)]
        #vis enum #request {
            #(#variants,)*
        }

        impl ::core::fmt::Debug for #request {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let name = match self {
                    #(#request_names)*
                };
                f.debug_struct(name).finish_non_exhaustive()
            }
        }

        #[doc = #response_doc]
        #[allow(dead_code)]
        #vis enum #response {
            #(#response_variants,)*
        }

        impl ::core::fmt::Debug for #response {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let name = match self {
                    #(#response_names)*
                };
                f.debug_struct(name).finish_non_exhaustive()
            }
        }

        impl #p::Service<#request> for #client {
            type Response = #response;
            type Error = #error;
            type Future = #p::BoxFuture<'static, ::core::result::Result<#response, #error>>;

            fn poll_ready(
                &mut self,
                _: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::core::result::Result<(), #error>> {
                // Each call waits for room on the connection itself.
                ::core::task::Poll::Ready(::core::result::Result::Ok(()))
            }

            fn call(&mut self, request: #request) -> Self::Future {
                let client = ::core::clone::Clone::clone(self);
                ::std::boxed::Box::pin(async move {
                    match request {
                        #(#calls)*
                    }
                })
            }
        }
    }
}
