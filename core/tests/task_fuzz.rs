//! No input makes the task parser panic or hang: thousands of mutated, truncated
//! and random inputs (a deterministic generator), plus deep nesting and alias bombs.
//! Each case asserts only that parsing returns (Ok or Err).

use std::path::Path;

use aloft::task::{Overrides, SecretValue, TaskChain};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\n",
    "\n  ",
    "  ",
    "\t",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "|",
    ">",
    "'",
    "\"",
    "---\n",
    "...\n",
    "<<: ",
    "?",
    "%YAML 1.2\n",
    "~",
    "null",
    "yes",
    "0x",
    "1e9",
    ".inf",
    "A100:8",
    "{A100:1, V100:1}",
    "any_of:",
    "ordered:",
    "8+",
    "infra: ",
    "aws/*/x",
    "accelerators: ",
    "resources:\n  ",
    "envs:\n  A: ",
    "${A}",
    "$",
    "\u{feff}",
    "é",
    "\r\n",
    "\0",
    "99999999999999999999999",
    "-1",
    "1Ti",
    "docker:",
];

fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for kind in ["valid", "invalid"] {
        let Ok(entries) = std::fs::read_dir(dir.join(kind)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml")
                && let Ok(bytes) = std::fs::read(&p)
            {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out.sort();
    out
}

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut bytes: Vec<u8> = src.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let pos = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => bytes.truncate(pos),
            1 if pos < bytes.len() => bytes[pos] = (rng.next() & 0xff) as u8,
            2 if pos < bytes.len() => {
                let end = (pos + rng.below(16)).min(bytes.len());
                bytes.drain(pos..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(pos..pos, t.bytes());
            }
            4 => {
                // Duplicate a slice: repeats structure, nests deeper.
                let end = (pos + rng.below(64)).min(bytes.len());
                let chunk = bytes[pos..end].to_vec();
                bytes.splice(pos..pos, chunk);
            }
            _ => {
                let n = rng.below(8);
                for _ in 0..n {
                    bytes.insert(pos.min(bytes.len()), (rng.next() & 0x7f) as u8);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn substitution_idempotent(chain: &TaskChain) -> bool {
    chain.tasks().iter().all(|t| {
        t.envs.values().all(|v| !v.contains('$'))
            && t.secrets.values().all(|s| match s {
                SecretValue::Inline(v) => !v.expose().contains('$'),
                SecretValue::Managed => true,
            })
    })
}

fn parse(src: &str, overrides: &Overrides) -> bool {
    TaskChain::from_yaml_str(src, "fuzz.yaml", overrides).is_ok()
}

#[test]
fn mutated_inputs_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 60, "golden seeds missing");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let overrides = Overrides {
        env: vec![("A".into(), "1".into())],
        ..Overrides::default()
    };
    let (mut ok, mut err) = (0, 0);
    // `ALOFT_FUZZ_CASES` runs more cases (the default keeps the suite fast).
    let cases: usize = std::env::var("ALOFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    for i in 0..cases {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(&mut rng, seed);
        if parse(&input, &overrides) {
            ok += 1;
        } else {
            err += 1;
        }
        // Output of anything that parsed must read back to the same chain (exact
        // equality needs variables whose values hold no `$`: substitution is not
        // idempotent, in SkyPilot either).
        if let Ok(chain) = TaskChain::from_yaml_str(&input, "fuzz.yaml", &overrides) {
            let text = chain.to_yaml_string_with_secrets();
            match TaskChain::from_yaml_str(&text, "again.yaml", &Overrides::default()) {
                Ok(_) if !substitution_idempotent(&chain) => {}
                Ok(again) => assert_eq!(
                    again, chain,
                    "mutant does not round-trip:\n{input}\n---\n{text}"
                ),
                Err(e) => {
                    panic!("output of a parsed mutant does not parse: {e}\n{input}\n---\n{text}")
                }
            }
        }
    }
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert!(ok > 100 && err > 100, "ok={ok} err={err}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        parse(&String::from_utf8_lossy(&bytes), &Overrides::default());
        let tokens: String = (0..rng.below(40))
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect();
        parse(&tokens, &Overrides::default());
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for open in ["[", "{a: ", "- ", "a:\n", "[{", "? "] {
        for depth in [100, 10_000, 200_000] {
            let src = open.repeat(depth);
            assert!(!parse(&src, &Overrides::default()), "{open:?} x {depth}");
        }
    }
    let mut indented = String::new();
    for i in 0..5_000 {
        indented.push_str(&" ".repeat(i));
        indented.push_str("a:\n");
    }
    assert!(!parse(&indented, &Overrides::default()));
}

#[test]
fn alias_bombs_are_refused() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    src.push_str("run: echo\n");
    assert!(!parse(&src, &Overrides::default()));
}
