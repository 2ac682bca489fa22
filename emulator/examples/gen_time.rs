//! Times store generation alone and shows its memory (run under `/usr/bin/time -v`):
//! `cargo run --release -p ecwid-emulator --example gen_time -- [PRODUCTS] [ORDERS]`.

use std::time::Instant;

use ecwid_emulator::{Emulator, EmulatorConfig};

fn main() -> std::io::Result<()> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (products, orders) = (arg(1, 100_000), arg(2, 1_000));
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let config = EmulatorConfig {
            products,
            variations_per_product: 3,
            orders,
            customers: 1_000,
            categories: 20,
            rate_limit: None,
            ..Default::default()
        };
        let t = Instant::now();
        let emu = Emulator::start("127.0.0.1:0".parse().expect("address"), config).await?;
        println!(
            "{products} products, {orders} orders: {:.2} s",
            t.elapsed().as_secs_f64()
        );
        emu.shutdown().await;
        Ok(())
    })
}
