//! What a provider declares beyond 0.1.0's `provider-info`: the `manifest` export
//! of WIT 0.2.0 (`wit/since_v0.2.0/manifest.wit`), added with one line,
//! [`export_capabilities!`](crate::export_capabilities). A provider that does not
//! add it declares every capability of [`Capabilities`] (its nodes can run the
//! task's container image, as VMs can); one that adds it declares exactly the set
//! it names.

/// Generated bindings of 0.2.0's `provider-manifest` world. The export is only
/// part of a component that invokes [`export_capabilities!`](crate::export_capabilities).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "provider-manifest",
        pub_export_macro: true,
        default_bindings_module: "aloft_provider_sdk::manifest::bindings",
    });
}

pub use bindings::exports::aloft::provider::manifest::{Capabilities, Guest};

/// Exports WIT 0.2.0's `manifest` with the given [`Capabilities`], in one line:
///
/// ```ignore
/// // Its nodes are containers of the provider's own image: no task images.
/// aloft_provider_sdk::export_capabilities!(aloft_provider_sdk::manifest::Capabilities::empty());
/// ```
#[macro_export]
macro_rules! export_capabilities {
    ($capabilities:expr) => {
        #[doc(hidden)]
        struct __AloftDeclaredCapabilities;

        impl $crate::manifest::Guest for __AloftDeclaredCapabilities {
            fn get_capabilities() -> $crate::manifest::Capabilities {
                $capabilities
            }
        }

        $crate::manifest::bindings::export!(
            __AloftDeclaredCapabilities with_types_in $crate::manifest::bindings
        );
    };
}
