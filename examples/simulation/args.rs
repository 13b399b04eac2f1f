//! The command line: flags, defaults, parsing and validation.

use observer_manager::Config;

pub(crate) const USAGE: &str = "\
usage: cargo run --release --example simulation -- [flags]

  --observers N        observers in the population      (default 1000000)
  --variables N        variables they watch             (default 10000)
  --owners N           owners; observers are split evenly (default 10000)
  --ticks N            ticks to run                     (default 100)
  --change-fraction F  share of variables changed per tick, 0..=1 (default 0.1)
  --churn-fraction F   share of owners replaced per tick, 0..=1  (default 0.01)
  --producers N        producer threads notifying each tick (default 2)
  --sweep-every N      full liveness scan every N ticks (default: the library's)
  --seed N             seed of the pseudo-random choices (default 1)
  --quiet              no progress lines on stderr
  --help               this text

Values may also be written --flag=value; digits may be grouped with '_'.";

/// The simulation's sizes and knobs, from the command line.
#[derive(Clone, Debug)]
pub(crate) struct Args {
    pub(crate) observers: u32,
    pub(crate) variables: u32,
    pub(crate) owners: u32,
    pub(crate) ticks: u32,
    pub(crate) change_fraction: f64,
    pub(crate) churn_fraction: f64,
    pub(crate) producers: u32,
    pub(crate) sweep_every: u32,
    pub(crate) seed: u64,
    pub(crate) quiet: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            observers: 1_000_000,
            variables: 10_000,
            owners: 10_000,
            ticks: 100,
            change_fraction: 0.1,
            churn_fraction: 0.01,
            producers: 2,
            sweep_every: Config::DEFAULT_SWEEP_EVERY as u32,
            seed: 1,
            quiet: false,
        }
    }
}

/// The flags that take a value.
const VALUE_FLAGS: [&str; 9] = [
    "--observers",
    "--variables",
    "--owners",
    "--ticks",
    "--producers",
    "--sweep-every",
    "--change-fraction",
    "--churn-fraction",
    "--seed",
];

/// What the command line asks for.
pub(crate) enum Command {
    Run(Args),
    Help,
}

/// Parses the flags (without the program name); the error is a message for the user.
pub(crate) fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = Args::default();
    let mut raw = raw.into_iter();
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--quiet" | "-q" if inline.is_none() => args.quiet = true,
            "--quiet" | "-q" => return Err(format!("{flag} takes no value")),
            _ if VALUE_FLAGS.contains(&flag) => {
                let value = inline
                    .or_else(|| raw.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                set_flag(&mut args, flag, &value)?;
            }
            _ if flag.starts_with('-') => return Err(format!("unknown flag '{flag}'")),
            _ => return Err(format!("unexpected argument '{flag}'")),
        }
    }
    validate(&args)?;
    Ok(Command::Run(args))
}

fn set_flag(args: &mut Args, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--observers" => args.observers = count(flag, value)?,
        "--variables" => args.variables = count(flag, value)?,
        "--owners" => args.owners = count(flag, value)?,
        "--ticks" => args.ticks = count(flag, value)?,
        "--producers" => args.producers = count(flag, value)?,
        "--sweep-every" => args.sweep_every = count(flag, value)?,
        "--change-fraction" => args.change_fraction = fraction(flag, value)?,
        "--churn-fraction" => args.churn_fraction = fraction(flag, value)?,
        "--seed" => {
            args.seed = value
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag} expects an integer 0..=2^64-1, got '{value}'"))?;
        }
        _ => return Err(format!("unknown flag '{flag}'")),
    }
    Ok(())
}

/// A positive count that fits the library's `u32` indexes.
fn count(flag: &str, value: &str) -> Result<u32, String> {
    match value.replace('_', "").parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag} expects a whole number from 1 to {}, got '{value}'",
            u32::MAX
        )),
    }
}

fn fraction(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{flag} expects a number from 0 to 1, got '{value}'"
        )),
    }
}

/// Checks that the flags make sense together.
fn validate(args: &Args) -> Result<(), String> {
    if args.observers < args.owners {
        return Err(format!(
            "--observers ({}) must be at least --owners ({}), so that every owner has an observer",
            args.observers, args.owners
        ));
    }
    if args.producers > 64 {
        return Err(format!(
            "--producers expects at most 64 threads, got {}",
            args.producers
        ));
    }
    Ok(())
}
