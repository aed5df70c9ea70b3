use clap::Parser;

fn main() {
    let cli = harvcred::cli::Cli::parse();
    match harvcred::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // The chain can carry the API's or a node's words: escaped.
            eprintln!("harvcred: {}", harvcred::cli::status::error_line(&e));
            std::process::exit(3);
        }
    }
}
