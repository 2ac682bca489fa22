//! Times store generation alone: `cargo run --release -p ecwid-emulator --example gen_time`.
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = ecwid_emulator::EmulatorConfig {
            products: n,
            variations_per_product: 3,
            orders: 1000,
            customers: 1000,
            categories: 20,
            rate_limit: None,
            ..Default::default()
        };
        let t = Instant::now();
        let emu = ecwid_emulator::Emulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        println!("{n} products: {:.2} s", t.elapsed().as_secs_f64());
        emu.shutdown().await;
    });
}
