//! The embedded trace viewer in a real browser (Debian's headless Chromium): search for
//! `gateway`, open the newest trace, and find spans of all six services in its waterfall.
//! Screenshots go to the test's output folder (`target/tmp/viewer/`).

use e2e::{SERVICES, TestStack, cards::APPROVED};
use std::{path::PathBuf, process::Command};

const MISSING: &str = "no Chromium on PATH: the viewer's browser test needs one. Install \
    Debian's `chromium` package (`apt-get install chromium`) or put chromium/google-chrome on PATH.";

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| stack::find_on_path(name))
        .unwrap_or_else(|| panic!("{MISSING}"))
}

/// Runs headless Chromium on `url` with the given action (`--dump-dom` or `--screenshot=...`),
/// letting the page's scripts run (and fetch from the viewer's API) first.
async fn chromium_run(url: &str, action: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let (program, url, action) = (chromium(), url.to_owned(), action.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1500,1200",
                "--virtual-time-budget=15000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(action)
            .arg(url)
            .output()
            .expect("running chromium")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_viewer_shows_an_orders_trace_with_all_six_services_in_a_browser() {
    let stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let reply = stack.order(&token, "gadget", 1, APPROVED).await;
    assert_eq!(reply.status, 201);
    let trace_id = reply.trace_id.unwrap();
    let all: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    stack.wait_for_trace(&trace_id, &all).await;
    let viewer = stack.query_api();

    // Search for gateway: the newest trace is the order (the login came before it).
    let search = chromium_run(&format!("{viewer}/search?service=gateway"), "--dump-dom").await;
    let newest = search
        .split("data-trace-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no trace rows in the search page:\n{search}"));
    assert_eq!(newest, trace_id);
    assert!(
        search.contains("gateway: POST /api/orders"),
        "the root operation is listed"
    );

    // Open it: the waterfall has spans of every service.
    let page = chromium_run(&format!("{viewer}/trace/{trace_id}"), "--dump-dom").await;
    for service in &all {
        assert!(
            page.contains(&format!("data-service=\"{service}\"")),
            "no {service} span in the waterfall:\n{page}"
        );
    }
    let rows = page.matches("class=\"span-row").count();
    assert!(rows >= 30, "only {rows} waterfall rows");
    assert!(
        page.contains("id=\"details\"") && page.contains("Attributes"),
        "the details pane is shown"
    );

    // The dependency graph draws the services that call each other.
    let graph = chromium_run(&format!("{viewer}/dependencies"), "--dump-dom").await;
    for service in &all {
        assert!(
            graph.contains(&format!("class=\"node\" data-service=\"{service}\"")),
            "{service} not in the graph"
        );
    }

    // Monitor: a RED row per service that served the order, from Jaeger's SPM API.
    let monitor = chromium_run(&format!("{viewer}/monitor"), "--dump-dom").await;
    for service in &all {
        assert!(
            monitor.contains(&format!("class=\"red-row\" data-key=\"{service}\"")),
            "{service} not on the monitor page:\n{monitor}"
        );
    }
    // Quality: the page renders its figure (the order is judged once it has settled).
    let quality = chromium_run(&format!("{viewer}/quality"), "--dump-dom").await;
    assert!(quality.contains("id=\"quality-ratio\""), "{quality}");

    let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, url) in [
        ("search.png", format!("{viewer}/search?service=gateway")),
        ("trace.png", format!("{viewer}/trace/{trace_id}")),
        ("dependencies.png", format!("{viewer}/dependencies")),
        ("monitor.png", format!("{viewer}/monitor")),
    ] {
        let path = folder.join(name);
        chromium_run(&url, &format!("--screenshot={}", path.display())).await;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is {size} bytes", path.display());
    }
}
