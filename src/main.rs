use clap::Parser;

fn main() {
    let cli = harvcred::cli::Cli::parse();
    match harvcred::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("harvcred: {e:#}");
            std::process::exit(3);
        }
    }
}
