//! `#[derive(Trace)]` for Shade.
//!
//! For a struct or enum, the derive generates an `unsafe impl Trace` that
//! traces every field, a `NO_TRACE` constant that is true only when every
//! field's type is pointer-free (so such objects go to noscan spans), and a
//! compile-time check that the type does not implement `Drop` (a destructor
//! could read slots whose targets were already freed). Every type parameter
//! gets `Trace + 'static` bounds (heap objects are `'static`, and a slot
//! names its target type in the witness check of `Slot::new`).
//!
//! `#[shade(dyn(Trait, ...))]` registers trait-object views: the derive
//! implements `AsDyn<dyn Trait>` for the type (the body is `self`, so the
//! type must implement `Trait`) and lists the traits in its `DYN` table, so
//! an erased pointer to it can call the trait's methods
//! (`GcAny::to_dyn::<dyn Trait>()`).
//!
//! There is deliberately no attribute to skip a field: a skipped field that
//! held a GC pointer would let the collector free a live object. A foreign
//! type with no GC pointers gets a newtype with a hand-written (and so
//! visibly `unsafe`) `Trace` impl whose `NO_TRACE` is true.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, parse_quote, Data, DeriveInput, Fields};

/// Derives `shade::Trace`. See the crate documentation.
#[proc_macro_derive(Trace, attributes(shade))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Field types (for NO_TRACE) and the tracing statements for a set of
/// fields bound to the given identifiers.
fn fields_trace(fields: &Fields, bind: &[syn::Ident]) -> syn::Result<(Vec<syn::Type>, Vec<TokenStream2>)> {
    let mut tys = Vec::new();
    let mut stmts = Vec::new();
    for (f, b) in fields.iter().zip(bind) {
        let ty = &f.ty;
        tys.push(ty.clone());
        stmts.push(quote! { ::shade::Trace::trace(#b, __tracer); });
    }
    Ok((tys, stmts))
}

fn binders(fields: &Fields) -> Vec<syn::Ident> {
    (0..fields.len()).map(|i| format_ident!("__f{}", i)).collect()
}

fn pattern(path: TokenStream2, fields: &Fields, bind: &[syn::Ident]) -> TokenStream2 {
    match fields {
        Fields::Named(n) => {
            let names = n.named.iter().map(|f| f.ident.clone().unwrap());
            quote! { #path { #(#names: #bind),* } }
        }
        Fields::Unnamed(_) => quote! { #path ( #(#bind),* ) },
        Fields::Unit => quote! { #path },
    }
}

/// The traits named in `#[shade(dyn(...))]` attributes.
fn dyn_traits(input: &DeriveInput) -> syn::Result<Vec<syn::Path>> {
    let mut traits = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("shade")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("dyn") {
                let content;
                syn::parenthesized!(content in meta.input);
                let list = content.parse_terminated(<syn::Path as syn::parse::Parse>::parse, syn::Token![,])?;
                traits.extend(list);
                Ok(())
            } else {
                Err(meta.error("#[shade(...)]: expected `dyn(Trait, ...)`"))
            }
        })?;
    }
    Ok(traits)
}

fn expand(mut input: DeriveInput) -> syn::Result<TokenStream2> {
    let name = input.ident.clone();
    let traits = dyn_traits(&input)?;
    if let Some(lt) = input.generics.lifetimes().next() {
        return Err(syn::Error::new_spanned(
            lt,
            "#[derive(Trace)]: heap types cannot borrow (lifetime parameters are not allowed)",
        ));
    }
    for tp in input.generics.type_params_mut() {
        tp.bounds.push(parse_quote!(::shade::Trace));
        tp.bounds.push(parse_quote!('static));
    }
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();

    let mut all_tys = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let bind = binders(&s.fields);
            let (tys, stmts) = fields_trace(&s.fields, &bind)?;
            all_tys.extend(tys);
            let pat = pattern(quote!(Self), &s.fields, &bind);
            quote! {
                #[allow(unused_variables)]
                let #pat = self;
                #(#stmts)*
            }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                let vname = &v.ident;
                let bind = binders(&v.fields);
                let (tys, stmts) = fields_trace(&v.fields, &bind)?;
                all_tys.extend(tys);
                let pat = pattern(quote!(Self::#vname), &v.fields, &bind);
                arms.push(quote! { #[allow(unused_variables)] #pat => { #(#stmts)* } });
            }
            if arms.is_empty() {
                quote! { match *self {} }
            } else {
                quote! { match self { #(#arms)* } }
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(u.union_token, "#[derive(Trace)] does not support unions"));
        }
    };

    let no_trace =
        if all_tys.is_empty() { quote!(true) } else { quote!(true #(&& <#all_tys as ::shade::Trace>::NO_TRACE)*) };

    let dyn_const = if traits.is_empty() {
        quote!()
    } else {
        quote! {
            const DYN: ::shade::DynTable =
                ::shade::DynTable::from_entries(&[#(::shade::DynTable::entry::<Self, dyn #traits>()),*]);
        }
    };
    let as_dyn = traits.iter().map(|tr| {
        quote! {
            impl #impl_g ::shade::AsDyn<dyn #tr> for #name #ty_g #where_g {
                #[inline]
                fn as_dyn(&self) -> &(dyn #tr + 'static) {
                    self
                }
            }
        }
    });

    let guard = format_ident!("__ShadeMustNotImplDrop{}", name);
    Ok(quote! {
        #(#as_dyn)*

        // SAFETY: generated: every field is traced,
        // NO_TRACE is the conjunction of the fields' NO_TRACE, and the type
        // is checked below not to implement Drop.
        unsafe impl #impl_g ::shade::Trace for #name #ty_g #where_g {
            const NO_TRACE: bool = #no_trace;
            #dyn_const
            #[inline]
            fn trace(&self, __tracer: &mut ::shade::Tracer<'_>) {
                #body
            }
        }

        // A derived type must not implement Drop: its destructor would run
        // when the object is swept and could read slots whose targets are
        // already freed. If it does, these impls conflict.
        const _: () = {
            #[allow(non_camel_case_types)]
            trait #guard {}
            #[allow(drop_bounds)]
            impl<T: ::core::ops::Drop> #guard for T {}
            impl #impl_g #guard for #name #ty_g #where_g {}
        };
    })
}
