//! The TUI in a pseudo-terminal: job control, and no force offered that
//! cannot be honoured.

use super::*;

// ---------------------------------------------------------------------------
// 6 and 8. The TUI in a pseudo-terminal

/// The TUI at 24×80 with no user config (a stray one could rebind keys).
fn start_tui() -> Pty {
    Pty::portwarden()
        .env("XDG_CONFIG_HOME", "/nonexistent-portwarden-test")
        .spawn()
}

/// Suspend (by `how`), check the terminal was given back and the process
/// stopped; continue, check raw mode and the alternate screen are back and
/// the screen was redrawn.
fn suspend_and_resume(tui: &mut Pty, how: &str) {
    let before = tui.raw_len();
    match how {
        "ctrl-z" => tui.keys("\u{1a}"),
        _ => kill(Pid::from_raw(tui.pid()), Signal::SIGTSTP).expect("SIGTSTP"),
    }
    assert!(
        wait_until(READY_TIMEOUT, || proc_state(tui.pid()) == Some('T')),
        "{how}: the TUI stopped"
    );
    // What was written before the stop may still be on its way to us.
    assert!(
        wait_until(READY_TIMEOUT, || {
            let raw = tui.raw_since(before);
            raw.contains("\x1b[?1049l") && raw.contains("\x1b[?25h")
        }),
        "{how}: alternate screen left and cursor shown"
    );
    assert!(tui.cooked(), "{how}: canonical mode and echo while stopped");

    let before = tui.raw_len();
    kill(Pid::from_raw(tui.pid()), Signal::SIGCONT).expect("SIGCONT");
    assert!(
        wait_until(READY_TIMEOUT, || tui.raw_since(before).contains("PROTO")),
        "{how}: redrawn after SIGCONT; screen:\n{}",
        tui.contents()
    );
    assert!(
        tui.raw_since(before).contains("\x1b[?1049h"),
        "{how}: alternate screen again"
    );
    assert!(
        wait_until(READY_TIMEOUT, || tui.raw_mode()),
        "{how}: raw mode again after SIGCONT"
    );
    // A redraw may be in flight (a clear, then the table): wait, bounded,
    // for the screen to show the table again.
    tui.wait_for("the table after resuming", |s| s.contains("PROTO"));
}

#[test]
fn tui_job_control_suspends_resumes_and_exits_128_plus_n() {
    let mut tui = start_tui();
    tui.wait_for("the first frame", |s| s.contains("PROTO"));
    suspend_and_resume(&mut tui, "ctrl-z");
    suspend_and_resume(&mut tui, "SIGTSTP");
    // Keys work again (help opens), then SIGTERM ends it with 143.
    tui.keys("?");
    tui.wait_for("help", |s| s.contains("Esc"));
    kill(Pid::from_raw(tui.pid()), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(tui.exit_code(), 128 + 15);
    assert!(tui.cooked(), "terminal restored");

    for (sig, n) in [(Signal::SIGHUP, 1), (Signal::SIGINT, 2)] {
        let mut tui = start_tui();
        tui.wait_for("the first frame", |s| s.contains("PROTO"));
        kill(Pid::from_raw(tui.pid()), sig).expect("signal");
        assert_eq!(tui.exit_code(), 128 + n, "{sig:?}");
    }
}

#[test]
fn tui_offers_no_force_for_its_own_ancestor() {
    // This test process holds the port, and it is the TUI's parent: kill
    // is refused, and forcing could not change that.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut tui = start_tui();
    tui.wait_for("the first frame", |s| s.contains("PROTO"));
    tui.keys("/");
    tui.keys(&port);
    tui.keys("\r");
    tui.wait_for("our port, filtered", |s| s.contains(&format!(":{port}")));
    tui.keys("x");
    // Wait for the whole dialog (its last line and the key bar), not just
    // its title: a frame caught mid-draw would show neither offer.
    let screen = tui.wait_for("the refusal, drawn to its end", |s| {
        s.contains("will not kill") && s.contains("Esc] close") && s.contains("Esc close")
    });
    assert!(screen.contains("cannot be forced"), "{screen}");
    assert!(
        !screen.contains("[F]") && !screen.contains("F force"),
        "{screen}"
    );
    // F does nothing: still the same refusal, nothing planned again.
    tui.keys("F");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !tui.contents().contains("FORCE kill?"),
        "{}",
        tui.contents()
    );
    tui.keys("\u{1b}");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    drop(listener);
}
