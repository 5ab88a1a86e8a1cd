//! check_reference [model.safetensors [reference.txt]]: loads the model Python
//! saved, runs the reference batch and compares with Python's y, h_n and c_n
//! (the file's layout is described in examples/make_reference.py). Exits 1 if
//! the largest absolute difference is above 1e-5 or anything fails.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

fn read_reference(path: &PathBuf) -> Result<HashMap<String, Vec<f64>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tokens = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .flat_map(str::split_whitespace);
    let mut records = HashMap::new();
    while let Some(name) = tokens.next() {
        let n: usize = tokens
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(format!("record {name}: no count"))?;
        let values = (0..n)
            .map(|_| tokens.next().and_then(|s| s.parse::<f64>().ok()))
            .collect::<Option<Vec<f64>>>()
            .ok_or(format!("record {name}: fewer than {n} numbers"))?;
        records.insert(name.to_string(), values);
    }
    Ok(records)
}

fn max_abs_diff(got: &[f32], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    // fold with max would drop a NaN; a NaN must fail the check.
    got.iter().zip(want).fold(0.0, |worst, (&g, &w)| {
        let d = (g as f64 - w).abs();
        if d <= worst {
            worst
        } else {
            d
        }
    })
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let model_path = args
        .next()
        .unwrap_or_else(|| data.join("model.safetensors"));
    let ref_path = args.next().unwrap_or_else(|| data.join("reference.txt"));

    let model = pylstm::Model::load(&model_path)?;
    let c = *model.config();
    println!(
        "pylstm {}: LSTM({}, {}, num_layers={}, bidirectional={}, proj_size={}) from {}",
        pylstm::version(),
        c.input_size,
        c.hidden_size,
        c.num_layers,
        c.bidirectional,
        c.proj_size,
        model_path.display()
    );

    let r = read_reference(&ref_path)?;
    let field = |name: &str| r.get(name).ok_or(format!("reference: no record {name}"));
    let dims = field("dims")?;
    let (t, b) = (dims[0] as usize, dims[1] as usize);
    let lengths: Vec<i64> = field("lengths")?.iter().map(|&v| v as i64).collect();
    let x: Vec<f32> = field("x")?.iter().map(|&v| v as f32).collect();
    let out = model.run_f32(&x, t, b, Some(&lengths))?;

    let width = c.num_directions() * c.state_size();
    println!("output y (T={t}, B={b}, {width}), lengths {lengths:?}:");
    for (step, row) in out.y.chunks(b * width).enumerate() {
        let cols: Vec<String> = row.iter().map(|v| format!("{v:9.6}")).collect();
        println!("  t={step}: {}", cols.join(" "));
    }
    let errs = [
        max_abs_diff(&out.y, field("y")?),
        max_abs_diff(&out.h_n, field("h_n")?),
        max_abs_diff(&out.c_n, field("c_n")?),
    ];
    println!(
        "max abs error vs Python: y {:.3e}, h_n {:.3e}, c_n {:.3e}",
        errs[0], errs[1], errs[2]
    );

    // The Result path of the wrapper: a bidirectional model cannot stream.
    match model.stream(1) {
        Err(e) => println!("stream on a bidirectional model: {e} (expected)"),
        Ok(_) => return Err("a stream opened on a bidirectional model".into()),
    }
    Ok(errs.iter().all(|&e| e <= 1e-5))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("FAILED: above 1e-5");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
