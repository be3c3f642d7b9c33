//! The clients file: any text loads or is refused with an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tollgate::auth::clients::ClientRegistry;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(registry) = ClientRegistry::parse(text) {
            let _ = registry.all_scopes();
            let _ = registry.verify("svc", "secret");
        }
    }
});
