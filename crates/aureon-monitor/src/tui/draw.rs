//! Drawing one [`Screen`] with ratatui: a header with the health status, a latency table with
//! sparklines, throughput, errors by kind, and a footer with the keys.

use super::screen::Screen;
use super::spark;
use crate::demo::worker::BLOCK_PROCESSING;
use crate::fmt;
use aureon_node::production_monitoring::{HealthStatus, Level};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

/// Reasons shown under the status line at most (the rest are on `/health`).
const MAX_DETAILS: usize = 4;
/// Height of the throughput and errors row: at least, at most.
const MIDDLE_ROWS: (u16, u16) = (7, 10);

/// Draws `screen` over the whole frame.
pub fn draw(frame: &mut Frame<'_>, screen: &Screen) {
    let details = screen.health.details.len().min(MAX_DETAILS) as u16;
    let header_height = 4 + details + u16::from(screen.phase.is_some());
    let ops_height = screen.metrics.ops.len().max(1) as u16 + 3;
    let middle_height =
        (screen.metrics.errors.len() as u16 + 3).clamp(MIDDLE_ROWS.0, MIDDLE_ROWS.1);
    let [header, latency, middle, checks, footer] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Length(ops_height),
        Constraint::Length(middle_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [throughput, errors] =
        Layout::horizontal([Constraint::Percentage(34), Constraint::Percentage(66)]).areas(middle);
    draw_header(frame, header, screen);
    draw_latency(frame, latency, screen);
    draw_throughput(frame, throughput, screen);
    draw_errors(frame, errors, screen);
    draw_checks(frame, checks, screen);
    let footer_text = format!(
        " q/Esc quit · snapshot #{} every {} · figures from the published snapshots",
        screen.metrics.sequence,
        fmt::elapsed(screen.interval)
    );
    frame.render_widget(
        Paragraph::new(footer_text).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
}

fn status_style(status: HealthStatus) -> Style {
    let color = match status {
        HealthStatus::Healthy => Color::Green,
        HealthStatus::Degraded => Color::Yellow,
        HealthStatus::Unhealthy => Color::Red,
    };
    Style::new().fg(color).add_modifier(Modifier::BOLD)
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    let health = &screen.health;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!(" ● {} ", health.status.to_string().to_uppercase()),
                status_style(health.status),
            ),
            Span::raw(format!(" {}", health.summary)),
        ]),
        Line::from(format!(
            " {} (and /health) · {}",
            screen.metrics_url, screen.load
        )),
    ];
    for detail in health.details.iter().take(MAX_DETAILS) {
        lines.push(Line::from(format!("   - {detail}")));
    }
    if let Some(phase) = &screen.phase {
        let style = if screen.degraded {
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::DarkGray)
        };
        lines.push(Line::styled(format!(" {phase}"), style));
    }
    let title = format!(
        " aureon-monitor · {} · up {} ",
        crate::demo::SERVICE,
        fmt::elapsed(screen.uptime)
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn opt_micros(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| fmt::micros(v as f64))
}

fn window_words(screen: &Screen) -> String {
    match screen.metrics.span {
        Some(span) => format!("last {}", fmt::elapsed(span.min(screen.window))),
        None => "waiting for the first interval".to_owned(),
    }
}

fn draw_latency(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    // The sparkline takes what the fixed columns leave.
    let fixed = 20 + 10 + 4 * 9 + 8;
    let spark_width = (area.width as usize)
        .saturating_sub(fixed)
        .clamp(8, super::screen::SPARK_POINTS);
    let header = Row::new([
        "operation",
        "ops/s",
        "p50",
        "p95",
        "p99",
        "max",
        "p99 per interval",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = screen.metrics.ops.iter().map(|op| {
        Row::new([
            Cell::from(op.name.clone()),
            Cell::from(op.rate.map_or_else(|| "-".to_owned(), fmt::per_sec)),
            Cell::from(opt_micros(op.p50)),
            Cell::from(opt_micros(op.p95)),
            Cell::from(opt_micros(op.p99)),
            Cell::from(opt_micros(op.max)),
            Cell::from(spark::bars(&op.p99_series, spark_width))
                .style(Style::new().fg(Color::Cyan)),
        ])
    });
    let widths = [
        Constraint::Length(20),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(8),
    ];
    let mut title = format!(" Latency per operation, {} ", window_words(screen));
    // The block that made p99 jump, by height (the demo's block_processing exemplars).
    if let Some(e) = screen
        .metrics
        .ops
        .iter()
        .find(|op| op.name == BLOCK_PROCESSING)
        .and_then(|op| op.slowest)
    {
        title.push_str(&format!(
            "· slowest block #{} {} ",
            e.id,
            fmt::micros(e.value as f64)
        ));
    }
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        area,
    );
}

fn draw_throughput(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    // The figure covers the same window as the other panels; the bars, one per interval.
    let block = Block::bordered().title(format!(
        " Throughput {} ",
        screen
            .metrics
            .throughput
            .map_or_else(|| "-".to_owned(), |r| format!("{} ops/s", fmt::number(r))),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let series = &screen.metrics.throughput_series;
    let shown = &series[series.len().saturating_sub(inner.width as usize)..];
    // Headroom above the peak, so a steady rate is not a solid block and a drop shows.
    let top = shown.iter().copied().max().unwrap_or(0) * 5 / 4;
    frame.render_widget(
        Sparkline::default()
            .data(shown.iter().copied())
            .max(top.max(1))
            .style(Style::new().fg(Color::Green)),
        inner,
    );
}

fn draw_errors(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    let header = Row::new(["operation", "kind", "recent", "of op", "total"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = screen.metrics.errors.iter().map(|e| {
        Row::new([
            e.op.clone(),
            e.kind.clone(),
            fmt::count(e.recent),
            e.share.map_or_else(|| "-".to_owned(), fmt::percent),
            fmt::count(e.lifetime),
        ])
    });
    let widths = [
        Constraint::Length(18),
        Constraint::Length(20),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(6),
    ];
    let title = format!(" Errors by kind, {} ", window_words(screen));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title));
    if screen.metrics.errors.is_empty() {
        frame.render_widget(
            Paragraph::new(" no errors recorded")
                .block(Block::bordered().title(" Errors by kind ")),
            area,
        );
    } else {
        frame.render_widget(table, area);
    }
}

fn draw_checks(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    let lines: Vec<Line<'_>> = screen
        .health
        .checks
        .iter()
        .map(|(level, text)| {
            let (mark, color) = match level {
                Some(Level::Ok) => ("✓", Color::Green),
                Some(Level::Warning) => ("!", Color::Yellow),
                Some(Level::Critical) => ("✗", Color::Red),
                None => ("·", Color::DarkGray),
            };
            Line::from(vec![
                Span::styled(
                    format!(" {mark} "),
                    Style::new().fg(color).add_modifier(Modifier::BOLD),
                ),
                Span::raw(text.clone()),
            ])
        })
        .collect();
    let title = format!(
        " Health checks over the last {} ",
        fmt::elapsed(screen.window)
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}
