//! A component built for a provider interface newer than this aloft speaks.

wit_bindgen::generate!({
    inline: "
        package aloft:provider@0.2.0;
        interface provisioner {
            info: func() -> string;
        }
        world provider {
            export provisioner;
        }
    ",
});

struct Future;

impl exports::aloft::provider::provisioner::Guest for Future {
    fn info() -> String {
        "from the future".into()
    }
}

export!(Future);
