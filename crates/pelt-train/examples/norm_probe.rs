//! scratch
use burn::prelude::*;
use burn::tensor::Distribution;
use pelt_t5::T5LayerNorm;
use std::time::Instant;

fn main() {
    let device = Device::flex().autodiff();
    let norm = T5LayerNorm::new(512, 1e-6, &device);
    for _ in 0..3 {
        let x = Tensor::<3>::random([8, 128, 512], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let g = Tensor::<3>::random([8, 128, 512], Distribution::Normal(0.0, 1.0), &device);
        let t = Instant::now();
        for _ in 0..13 {
            let grads = (norm.forward(x.clone()) * g.clone()).sum().backward();
            let _ = x.grad(&grads);
        }
        println!("13 norms fwd+bwd: {:.3}s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..13 {
            let grads = (x.clone() * g.clone()).sum().backward();
            let _ = x.grad(&grads);
        }
        println!("  baseline: {:.3}s", t.elapsed().as_secs_f64());
    }
}
