//! Colours: the class colours and a style helper that drops every colour
//! when colours are off (`NO_COLOR`, `--no-color`, the config's theme).

use super::*;

/// The basic ANSI colour of a class.
pub fn class_color(c: Class) -> Color {
    match c {
        Class::SelfProc => Color::Magenta,
        Class::Foreign => Color::Red,
        Class::Managed => Color::Blue,
        Class::Daemon => Color::Cyan,
        Class::Orphan => Color::Yellow,
        Class::Live => Color::Green,
    }
}

/// Style helper that drops colours when they are off.
pub(super) struct Pal {
    pub(super) color: bool,
}

impl Pal {
    pub(super) fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub(super) fn class(&self, c: Class) -> Style {
        self.fg(class_color(c))
    }

    pub(super) fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub(super) fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    pub(super) fn tone(&self, t: Tone) -> Style {
        match t {
            Tone::Info => Style::new(),
            Tone::Good => self.fg(Color::Green),
            Tone::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}
