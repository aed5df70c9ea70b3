//! Colour themes: TOML files. Shipped ones (`themes/` in the repository) are
//! built into the binary; user themes in `$XDG_CONFIG_HOME/harvcred/themes/`
//! take precedence over shipped ones of the same name.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

pub const DEFAULT: &str = "dark";

const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

/// Every style the screens use.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub header: Style,
    pub accent: Style,
    pub border: Style,
    pub border_focus: Style,
    pub title: Style,
    pub table_header: Style,
    pub selected: Style,
    pub ok: Style,
    pub warn: Style,
    pub critical: Style,
    pub unknown: Style,
    pub dim: Style,
    pub key: Style,
    pub flash_info: Style,
    pub flash_error: Style,
    pub input: Style,
    pub badge: Style,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    styles: Styles,
}

macro_rules! styles {
    ($($f:ident),*) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Styles { $($f: Option<StyleSpec>,)* }

        fn apply(base: &mut Theme, s: Styles, text: &str, file: &str) -> Result<(), String> {
            $(if let Some(spec) = s.$f { base.$f = spec.to_style(text, file)?; })*
            Ok(())
        }
    };
}
styles!(
    base,
    header,
    accent,
    border,
    border_focus,
    title,
    table_header,
    selected,
    ok,
    warn,
    critical,
    unknown,
    dim,
    key,
    flash_info,
    flash_error,
    input,
    badge
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

impl StyleSpec {
    fn to_style(&self, text: &str, file: &str) -> Result<Style, String> {
        let colour = |c: &Option<Spanned<String>>| -> Result<Option<Color>, String> {
            let Some(c) = c else { return Ok(None) };
            Color::from_str(c.get_ref()).map(Some).map_err(|_| {
                format!(
                    "{file} line {}: unknown colour {:?}",
                    line_of(text, c.span().start),
                    c.get_ref()
                )
            })
        };
        let mut st = Style::default();
        if let Some(fg) = colour(&self.fg)? {
            st = st.fg(fg);
        }
        if let Some(bg) = colour(&self.bg)? {
            st = st.bg(bg);
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ] {
            if on {
                st = st.add_modifier(m);
            }
        }
        Ok(st)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parse a theme file's text on top of `base`. Errors name the file and line.
fn parse(name: &str, text: &str, file: &str, base: Theme) -> Result<Theme, String> {
    let tf: ThemeFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        match line {
            Some(l) => format!("{file} line {l}: {}", e.message()),
            None => format!("{file}: {}", e.message()),
        }
    })?;
    let mut t = base;
    t.name = name.to_string();
    apply(&mut t, tf.styles, text, file)?;
    Ok(t)
}

impl Theme {
    /// The built-in dark theme; cannot fail (a test proves the shipped files parse).
    pub fn default_theme() -> Theme {
        let empty = Theme {
            name: DEFAULT.into(),
            base: Style::default(),
            header: Style::default(),
            accent: Style::default(),
            border: Style::default(),
            border_focus: Style::default(),
            title: Style::default(),
            table_header: Style::default(),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            ok: Style::default(),
            warn: Style::default(),
            critical: Style::default(),
            unknown: Style::default(),
            dim: Style::default(),
            key: Style::default(),
            flash_info: Style::default(),
            flash_error: Style::default(),
            input: Style::default(),
            badge: Style::default(),
        };
        parse(DEFAULT, SHIPPED[0].1, "themes/dark.toml", empty.clone()).unwrap_or(empty)
    }

    /// Names of every theme one can choose: shipped ones and the user's.
    pub fn available(user_dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(rd) = std::fs::read_dir(user_dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem()
                {
                    v.push(stem.to_string_lossy().into_owned());
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// Load theme `name`: the user's file first, then a shipped one. A broken
    /// or missing theme gives the default theme and a message saying why.
    pub fn load(name: &str, user_dir: &Path) -> (Theme, Option<String>) {
        let user: PathBuf = user_dir.join(format!("{name}.toml"));
        let found = match std::fs::read_to_string(&user) {
            Ok(text) => Some((text, user.display().to_string())),
            Err(_) => SHIPPED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, t)| (t.to_string(), format!("themes/{n}.toml"))),
        };
        match found {
            Some((text, file)) => match parse(name, &text, &file, Theme::default_theme()) {
                Ok(t) => (t, None),
                Err(e) => (
                    Theme::default_theme(),
                    Some(format!("theme {e}; using {DEFAULT}")),
                ),
            },
            None => (
                Theme::default_theme(),
                Some(format!("no theme named {name:?}; using {DEFAULT}")),
            ),
        }
    }
}

/// Which theme to use: the command line wins, then NO_COLOR (monochrome),
/// then the config file, then the default.
pub fn choose(cli: Option<&str>, config: Option<&str>, no_color: bool) -> String {
    match (cli, no_color, config) {
        (Some(n), _, _) => n.to_string(),
        (None, true, _) => "monochrome".into(),
        (None, false, Some(n)) => n.to_string(),
        (None, false, None) => DEFAULT.into(),
    }
}

/// NO_COLOR counts when set to anything non-empty (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse_and_differ() {
        let dir = tempfile::tempdir().unwrap();
        for (name, _) in SHIPPED {
            let (t, warn) = Theme::load(name, dir.path());
            assert_eq!(warn, None, "{name}");
            assert_eq!(t.name, *name);
        }
        let dark = Theme::load("dark", dir.path()).0;
        let mono = Theme::load("monochrome", dir.path()).0;
        assert_eq!(dark.critical.fg, Some(Color::LightRed));
        // Monochrome: no colour anywhere except reset.
        for st in [
            mono.ok,
            mono.warn,
            mono.critical,
            mono.unknown,
            mono.selected,
        ] {
            assert!(matches!(st.fg, None | Some(Color::Reset)), "{st:?}");
            assert!(matches!(st.bg, None | Some(Color::Reset)), "{st:?}");
        }
        assert!(mono.critical.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn broken_user_theme_names_file_and_line_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "[styles]\nok = { fg = \"green\" }\nwarn = { fg = \"yelow\" }\n",
        )
        .unwrap();
        let (t, warn) = Theme::load("mine", dir.path());
        let warn = warn.unwrap();
        assert!(warn.contains("mine.toml line 3"), "{warn}");
        assert!(warn.contains("yelow"), "{warn}");
        assert_eq!(t, Theme::default_theme());

        std::fs::write(dir.path().join("bad.toml"), "[styles]\nok = { fg = \n").unwrap();
        let warn = Theme::load("bad", dir.path()).1.unwrap();
        assert!(warn.contains("bad.toml line"), "{warn}");

        std::fs::write(dir.path().join("typo.toml"), "[styles]\n\nokk = {}\n").unwrap();
        let warn = Theme::load("typo", dir.path()).1.unwrap();
        assert!(warn.contains("typo.toml line 3"), "{warn}");
    }

    #[test]
    fn user_theme_overrides_only_what_it_sets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.toml"),
            "[styles]\nok = { fg = \"#00ff00\" }\n",
        )
        .unwrap();
        let (t, warn) = Theme::load("x", dir.path());
        assert_eq!(warn, None);
        assert_eq!(t.ok.fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(t.critical, Theme::default_theme().critical);
        assert!(Theme::available(dir.path()).contains(&"x".to_string()));
        assert!(Theme::load("nope", dir.path()).1.unwrap().contains("nope"));
    }

    #[test]
    fn theme_choice_order() {
        assert_eq!(choose(Some("light"), Some("dark"), true), "light");
        assert_eq!(choose(None, Some("light"), true), "monochrome");
        assert_eq!(choose(None, Some("light"), false), "light");
        assert_eq!(choose(None, None, false), "dark");
    }
}
