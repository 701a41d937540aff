//! Reads a service trait, and refuses what cannot be served, saying what
//! to write instead.

use proc_macro2::{Span, TokenStream};
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Pat, PathArguments, ReceiverKind,
    ReturnType, Safety, TraitItem, TraitItemFn, Type, parse::Parser, spanned::Spanned,
};

/// A service trait, read.
pub(crate) struct Service {
    pub(crate) item: ItemTrait,
    pub(crate) version: Option<LitStr>,
    pub(crate) methods: Vec<Method>,
}

/// One method of the trait.
pub(crate) struct Method {
    pub(crate) ident: Ident,
    /// The method's attributes without `#[rpc(..)]`: its docs, mostly.
    pub(crate) attrs: Vec<Attribute>,
    /// The name on the wire.
    pub(crate) name: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) kind: Kind,
}

pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// An `Option`: callers may leave it out.
    pub(crate) optional: bool,
}

pub(crate) enum Kind {
    /// Answers the type (`()` when the method returns nothing).
    Plain(Box<Type>),
    /// Answers `Result<ok, err>`; the error travels as an error object.
    Fallible { ok: Box<Type>, err: Box<Type> },
    /// No answer.
    Notification,
    /// A stream of items: `BoxStream<'static, item>`.
    Subscription { item: Box<Type> },
}

fn error(span: impl Spanned, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span.span(), message)
}

impl Service {
    pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Self> {
        let version = parse_args(args)?;
        let mut item: ItemTrait = syn::parse2(item).map_err(|err| {
            syn::Error::new(
                err.span(),
                format!("`#[tower_ipc::service]` goes on a trait of `async fn`s: {err}"),
            )
        })?;
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            return Err(error(
                &item.generics,
                "a service trait cannot be generic: both ends must agree on every type, so name them",
            ));
        }
        if let Some(unsafety) = &item.unsafety {
            return Err(error(unsafety, "a service trait cannot be `unsafe`"));
        }
        let mut methods = Vec::new();
        for trait_item in &mut item.items {
            match trait_item {
                TraitItem::Fn(function) => methods.push(Method::parse(function)?),
                other => {
                    return Err(error(
                        &*other,
                        "a service trait holds only `async fn` methods (no constants, types or macros)",
                    ));
                }
            }
        }
        for (i, method) in methods.iter().enumerate() {
            for name in method.wire_names() {
                let clash = methods[..i]
                    .iter()
                    .find(|other| other.wire_names().contains(&name));
                if let Some(other) = clash {
                    return Err(error(
                        &method.ident,
                        format!(
                            "`{}` and `{}` both use the method name `{name}` on the wire: rename one with `#[rpc(name = \"..\")]`",
                            other.ident, method.ident
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            item,
            version,
            methods,
        })
    }
}

fn parse_args(args: TokenStream) -> syn::Result<Option<LitStr>> {
    let mut version = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("version") {
            let value: LitStr = meta.value()?.parse()?;
            if version.replace(value).is_some() {
                return Err(meta.error("`version` is given twice"));
            }
            Ok(())
        } else {
            Err(meta
                .error("unknown argument: `#[tower_ipc::service]` takes only `version = \"..\"`"))
        }
    });
    parser.parse2(args)?;
    Ok(version)
}

/// What `#[rpc(..)]` says of a method.
#[derive(Default)]
struct RpcAttr {
    name: Option<LitStr>,
    notification: Option<Span>,
    subscription: Option<Span>,
}

impl RpcAttr {
    fn take(attrs: &mut Vec<Attribute>) -> syn::Result<Self> {
        let mut rpc = Self::default();
        let mut kept = Vec::new();
        for attr in attrs.drain(..) {
            if !attr.path().is_ident("rpc") {
                kept.push(attr);
                continue;
            }
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    rpc.name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("notification") {
                    rpc.notification = Some(meta.path.span());
                } else if meta.path.is_ident("subscription") {
                    rpc.subscription = Some(meta.path.span());
                } else {
                    return Err(meta.error(
                        "unknown `rpc` option: use `name = \"..\"`, `notification` or `subscription`",
                    ));
                }
                Ok(())
            })?;
        }
        *attrs = kept;
        if let (Some(_), Some(subscription)) = (rpc.notification, rpc.subscription) {
            return Err(syn::Error::new(
                subscription,
                "a method is a notification or a subscription, not both",
            ));
        }
        Ok(rpc)
    }
}

impl Method {
    fn parse(function: &mut TraitItemFn) -> syn::Result<Self> {
        let rpc = RpcAttr::take(&mut function.attrs)?;
        let sig = &function.sig;
        if sig.asyncness.is_none() {
            return Err(error(
                sig.fn_token,
                format!("`{}` must be an `async fn`", sig.ident),
            ));
        }
        if let Some(body) = &function.default {
            return Err(error(
                body,
                "service methods cannot have a default body: write it in the implementation",
            ));
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            return Err(error(
                &sig.generics,
                "service methods cannot be generic: both ends must agree on every type",
            ));
        }
        if let Safety::Unsafe(unsafety) = &sig.safety {
            return Err(error(unsafety, "service methods cannot be `unsafe`"));
        }
        if let Some(variadic) = &sig.variadic {
            return Err(error(variadic, "service methods cannot be variadic"));
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(receiver))
                if matches!(receiver.kind, ReceiverKind::Reference(_, _, None)) =>
            {
                if let ReceiverKind::Reference(_, Some(lifetime), _) = &receiver.kind {
                    return Err(error(lifetime, "write the receiver as plain `&self`"));
                }
            }
            Some(other) => {
                return Err(error(
                    other,
                    format!(
                        "`{}` must take `&self` first: the server calls many methods at once",
                        sig.ident
                    ),
                ));
            }
            None => {
                return Err(error(
                    &sig.ident,
                    format!(
                        "`{}` must take `&self` first: the server calls many methods at once",
                        sig.ident
                    ),
                ));
            }
        }
        let args = inputs.map(Arg::parse).collect::<syn::Result<Vec<_>>>()?;
        let kind = if rpc.notification.is_some() {
            if let ReturnType::Type(_, ty) = &sig.output
                && !is_unit(ty)
            {
                return Err(error(
                    ty,
                    "a notification has no answer: remove the return type",
                ));
            }
            Kind::Notification
        } else if rpc.subscription.is_some() {
            let ReturnType::Type(_, ty) = &sig.output else {
                return Err(error(
                    &sig.ident,
                    "a subscription returns `BoxStream<'static, Item>` (futures::stream::BoxStream)",
                ));
            };
            let item = box_stream_item(ty).ok_or_else(|| {
                error(
                    ty,
                    "a subscription returns `BoxStream<'static, Item>` (futures::stream::BoxStream)",
                )
            })?;
            Kind::Subscription {
                item: Box::new(item),
            }
        } else {
            match &sig.output {
                ReturnType::Default => Kind::Plain(Box::new(syn::parse_quote!(()))),
                ReturnType::Type(_, ty) => match result_types(ty) {
                    Some((ok, err)) => Kind::Fallible {
                        ok: Box::new(ok),
                        err: Box::new(err),
                    },
                    None => Kind::Plain(ty.clone()),
                },
            }
        };
        let name = match &rpc.name {
            Some(name) => {
                let value = name.value();
                if value.is_empty() {
                    return Err(error(name, "a method name cannot be empty"));
                }
                value
            }
            None => sig.ident.to_string(),
        };
        Ok(Self {
            ident: sig.ident.clone(),
            attrs: function.attrs.clone(),
            name,
            args,
            kind,
        })
    }

    /// The method names this method takes on the wire.
    pub(crate) fn wire_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Subscription { .. } => vec![
                format!("{}_subscribe", self.name),
                format!("{}_unsubscribe", self.name),
            ],
            _ => vec![self.name.clone()],
        }
    }
}

impl Arg {
    fn parse(input: &FnArg) -> syn::Result<Self> {
        let FnArg::Typed(typed) = input else {
            return Err(error(input, "only the first argument can be `self`"));
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(error(
                &typed.pat,
                "arguments of service methods are plain names: they name the params on the wire",
            ));
        };
        if pat.by_ref.is_some() || pat.subpat.is_some() {
            return Err(error(
                &typed.pat,
                "arguments of service methods are plain names: they name the params on the wire",
            ));
        }
        if let Some(reference) = borrowed(&typed.ty) {
            return Err(error(
                reference,
                "arguments travel over the wire and arrive owned: use an owned type (`String`, not `&str`; `Vec<T>`, not `&[T]`)",
            ));
        }
        Ok(Self {
            ident: pat.ident.clone(),
            ty: (*typed.ty).clone(),
            optional: last_segment(&typed.ty).is_some_and(|segment| segment.ident == "Option"),
        })
    }
}

/// A reference or `impl Trait` somewhere in an argument's type.
fn borrowed(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(_) | Type::ImplTrait(_) | Type::TraitObject(_) => Some(ty),
        Type::Paren(inner) => borrowed(&inner.elem),
        Type::Group(inner) => borrowed(&inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(borrowed),
        Type::Array(array) => borrowed(&array.elem),
        Type::Slice(slice) => borrowed(&slice.elem),
        Type::Path(path) => path.path.segments.iter().find_map(|segment| {
            let PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(ty) => borrowed(ty),
                _ => None,
            })
        }),
        _ => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn type_args(segment: &syn::PathSegment) -> Vec<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `Result<T, E>`'s `T` and `E`.
fn result_types(ty: &Type) -> Option<(Type, Type)> {
    let segment = last_segment(ty)?;
    if segment.ident != "Result" {
        return None;
    }
    match type_args(segment)[..] {
        [ok, err] => Some((ok.clone(), err.clone())),
        _ => None,
    }
}

/// `BoxStream<'static, T>`'s `T`.
fn box_stream_item(ty: &Type) -> Option<Type> {
    let segment = last_segment(ty)?;
    if segment.ident != "BoxStream" {
        return None;
    }
    match type_args(segment)[..] {
        [item] => Some(item.clone()),
        _ => None,
    }
}
