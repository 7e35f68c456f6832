//! Every chart in both formats: valid output of the requested size, titles and labels as text,
//! suppressed values never drawn as values, empty and odd inputs, bad sizes, embedded fonts, and
//! the choropleth on the real ward boundaries.
//!
//! Set `MARMOT_CHARTS_DUMP=/some/dir` to also write each chart there (to look at by eye).
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test with a backtrace

use std::io::Cursor;
use std::path::PathBuf;

use marmot_charts::*;

const FORMATS: [Format; 2] = [Format::Png, Format::Svg];

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("PNG data");
    (info.width, info.height)
}

fn svg_text(r: &Rendered) -> String {
    assert_eq!(r.format, Format::Svg);
    String::from_utf8(r.bytes.clone()).expect("SVG is UTF-8")
}

/// Checks a rendering is a valid PNG or SVG of `size`; returns the SVG text ("" for PNG).
fn check(r: &Rendered, size: Size) -> String {
    match r.format {
        Format::Png => {
            assert_eq!(r.content_type(), "image/png");
            assert_eq!(png_size(&r.bytes), (size.width, size.height));
            String::new()
        }
        Format::Svg => {
            assert_eq!(r.content_type(), "image/svg+xml");
            let svg = svg_text(r);
            assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
            assert!(svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains(&format!("width=\"{}\"", size.width)));
            assert!(svg.contains(&format!("height=\"{}\"", size.height)));
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "non-finite numbers in the SVG"
            );
            assert_balanced(&svg);
            svg
        }
    }
}

/// Every opened element is closed, in order (plotters writes one element per line).
fn assert_balanced(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') && !tag.starts_with('?') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

/// Text nodes of the SVG (plotters writes `<text ...>\nTEXT\n</text>`).
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().replace("&amp;", "&"))
        })
        .collect()
}

fn dump(name: &str, r: &Rendered) {
    if let Ok(dir) = std::env::var("MARMOT_CHARTS_DUMP") {
        let path =
            PathBuf::from(dir).join(format!("marmot-charts-{name}.{}", r.format.extension()));
        std::fs::write(path, &r.bytes).unwrap();
    }
}

fn sizes() -> [Size; 3] {
    [
        Size::default(),
        Size::new(200, 200).unwrap(),
        Size::new(1600, 1000).unwrap(),
    ]
}

fn trend_points() -> Vec<TrendPoint> {
    (0..24)
        .map(|i| {
            let v = 40.0 + 8.0 * (f64::from(i) / 3.0).sin() + f64::from(i) * 0.4;
            TrendPoint {
                label: format!("{}/{:02}", 2001 + i, (2 + i) % 100),
                value: Some(v),
                lower: Some(v - 4.0),
                upper: Some(v + 5.0),
                benchmark: Some(45.0),
                suppressed: i == 7 || i == 8,
                marker: (i == 18).then(|| "Farrington alarm".to_string()),
            }
        })
        .collect()
}

fn trigger_points() -> Vec<TriggerPoint> {
    (1..=52)
        .map(|w| {
            let expected = 20.0 + 6.0 * (f64::from(w) / 8.0).cos();
            let observed = if (30..33).contains(&w) {
                expected * 2.2
            } else {
                expected + f64::from(w % 5) - 2.0
            };
            TriggerPoint {
                label: format!("2024-W{w:02}"),
                observed: Some(observed),
                expected: Some(expected),
                lower: Some(expected * 0.6),
                upper: Some(expected * 1.5),
                alarm: (30..33).contains(&w),
            }
        })
        .collect()
}

fn quintile_bars() -> Vec<Bar> {
    let labels = ["1 - most deprived", "2", "3", "4", "5 - least deprived"];
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let v = 80.0 - 10.0 * i as f64;
            Bar {
                label: l.to_string(),
                value: Some(v),
                lower: Some(v - 6.0),
                upper: Some(v + 6.0),
                outcome: Outcome::Better,
                suppressed: i == 3,
            }
        })
        .collect()
}

fn ward_bars(n: usize) -> Vec<Bar> {
    let outcomes = [Outcome::Better, Outcome::Similar, Outcome::Worse];
    (0..n)
        .map(|i| {
            let v = 50.0 + (i as f64 * 7.3) % 40.0;
            Bar {
                label: format!(
                    "Ward number {i} with a rather long name indeed, far too long to fit"
                ),
                value: Some(v),
                lower: Some(v - 5.0),
                upper: Some(v + 5.0),
                outcome: outcomes[i % 3],
                suppressed: i == 2,
            }
        })
        .collect()
}

fn funnel_data() -> (Vec<FunnelPoint>, Vec<FunnelLimits>) {
    let points = (0..30)
        .map(|i| {
            let d = 500.0 + 300.0 * f64::from(i);
            let v = 10.0 + 25.0 / (1.0 + f64::from(i)).sqrt() * if i % 2 == 0 { 1.0 } else { -1.0 };
            let outcome = if v > 18.0 {
                Outcome::Worse
            } else if v < 4.0 {
                Outcome::Better
            } else {
                Outcome::Similar
            };
            FunnelPoint {
                label: format!("Area {i}"),
                denominator: d,
                value: v,
                outcome,
            }
        })
        .collect();
    let limits = (1..=100)
        .map(|k| {
            let d = 100.0 * f64::from(k);
            let se = (10.0 * 90.0 / d).sqrt();
            FunnelLimits {
                denominator: d,
                lower_95: 10.0 - 1.96 * se,
                upper_95: 10.0 + 1.96 * se,
                lower_99_8: 10.0 - 3.09 * se,
                upper_99_8: 10.0 + 3.09 * se,
            }
        })
        .collect();
    (points, limits)
}

fn spine_rows() -> Vec<SpineRow> {
    let names = [
        "Under 75 mortality rate from cardiovascular disease considered preventable",
        "Smoking prevalence in adults",
        "Emergency admissions for intentional self-harm",
        "Hospital admissions for alcohol-specific conditions (under 18s)",
        "Excess weight in adults",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, n)| SpineRow {
            indicator: n.to_string(),
            value: Some(20.0 + 7.0 * i as f64),
            benchmark: Some(25.0 + 5.0 * i as f64),
            worst: Some(if i == 2 { 80.0 } else { 5.0 }),
            q25: Some(18.0 + 5.0 * i as f64),
            q75: Some(30.0 + 5.0 * i as f64),
            best: Some(if i == 2 { 10.0 } else { 60.0 + 5.0 * i as f64 }),
            outcome: [
                Outcome::Worse,
                Outcome::Similar,
                Outcome::Better,
                Outcome::Lower,
                Outcome::Higher,
            ][i],
            suppressed: i == 4,
        })
        .collect()
}

fn boundaries(file: &str) -> Vec<MapArea> {
    let path = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../data/reference/boundaries/2011")
    .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    areas_from_geojson(&text, "WD20CD", "WD20NM").unwrap()
}

/// Renders with every size and format, checks each, returns the default-size SVG.
fn all_ways(name: &str, draw: impl Fn(Size, Format) -> Result<Rendered, ChartError>) -> String {
    let mut svg = String::new();
    for size in sizes() {
        for format in FORMATS {
            let r = draw(size, format).unwrap_or_else(|e| panic!("{name} {size:?} {format}: {e}"));
            let text = check(&r, size);
            dump(&format!("{name}-{}x{}", size.width, size.height), &r);
            if size == Size::default() && format == Format::Svg {
                svg = text;
            }
        }
    }
    svg
}

#[test]
fn trend_chart() {
    let points = trend_points();
    let svg = all_ways("trend", |s, f| {
        trend(
            "Under 75 mortality, Hackney",
            "Rate per 100,000",
            &points,
            s,
            f,
        )
    });
    let t = texts(&svg);
    assert!(
        t.contains(&"Under 75 mortality, Hackney".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"Rate per 100,000".to_string()));
    assert!(t.contains(&"2001/02".to_string()), "first period labelled");
    assert!(t.contains(&"Farrington alarm".to_string()));
    assert!(t.iter().any(|t| t == "suppressed"));
    // Two circles (fill and rim) per value drawn: the two suppressed periods have none.
    assert_eq!(svg.matches("<circle").count(), 2 * (points.len() - 2));
}

#[test]
fn trend_labels_are_thinned() {
    let points: Vec<TrendPoint> = (0..200)
        .map(|i| TrendPoint {
            label: format!("P{i:03}"),
            value: Some(f64::from(i)),
            ..TrendPoint::default()
        })
        .collect();
    let svg = svg_text(&trend("Many periods", "", &points, Size::default(), Format::Svg).unwrap());
    let shown = texts(&svg)
        .iter()
        .filter(|t| t.starts_with('P') && t.len() == 4)
        .count();
    assert!(
        (5..40).contains(&shown),
        "{shown} period labels for 200 periods"
    );
}

#[test]
fn trigger_chart() {
    let points = trigger_points();
    let svg = all_ways("trigger", |s, f| {
        trigger("ILI consultations: Farrington flexible", &points, s, f)
    });
    let t = texts(&svg);
    assert!(t.contains(&"ILI consultations: Farrington flexible".to_string()));
    assert!(t.contains(&"2024-W01".to_string()));
    assert!(t.contains(&"Alarm".to_string()));
    // Alarm weeks: a red dot each (plus the legend's), on a shaded column.
    assert_eq!(svg.matches("<circle").count(), 2 * points.len() + 2);
    assert_eq!(svg.matches("fill=\"#F8D7D7\"").count(), 3);
}

#[test]
fn quantile_chart() {
    let bars = quintile_bars();
    let svg = all_ways("quantiles", |s, f| {
        quantiles(
            "Emergency admissions by deprivation",
            "per 100,000",
            &bars,
            Some((85.0, 38.0)),
            Some(60.0),
            s,
            f,
        )
    });
    let t = texts(&svg);
    assert!(t.contains(&"Emergency admissions by deprivation".to_string()));
    assert!(
        t.contains(&"1 - most deprived".to_string()) || t.iter().any(|l| l.starts_with("1 - most")),
        "{t:?}"
    );
    assert!(t.contains(&"SII".to_string()));
    assert!(t.contains(&"suppressed".to_string()));
    // Four bars drawn (the suppressed one is not) and one legend swatch.
    assert_eq!(svg.matches("fill=\"#92D050\"").count(), 4 + 1);
}

#[test]
fn comparison_chart() {
    let bars = ward_bars(12);
    let svg = all_ways("compare", |s, f| {
        compare(
            "Smoking prevalence by ward",
            "% of adults",
            &bars,
            Some(55.0),
            s,
            f,
        )
    });
    let t = texts(&svg);
    assert!(t.contains(&"Smoking prevalence by ward".to_string()));
    assert!(t.contains(&"% of adults".to_string()));
    assert!(
        t.iter()
            .any(|l| l.starts_with("Ward number 0") && l.ends_with('…')),
        "long names cut: {t:?}"
    );
    assert!(t.contains(&"suppressed".to_string()));
    for o in [Outcome::Better, Outcome::Similar, Outcome::Worse] {
        assert!(t.contains(&o.label().to_string()));
    }
    // Bar 2 (Worse) is suppressed: 4 Worse bars drawn of 12/3, plus the legend swatch.
    assert_eq!(
        svg.matches(&format!("fill=\"{}\"", Outcome::Worse.hex()))
            .count(),
        3 + 1
    );

    // Sixty areas in a tall image keep every name; in a short one some are left out.
    let many = ward_bars(60);
    let tall_size = Size::new(900, 1100).unwrap();
    dump(
        "compare-60",
        &compare("60 areas", "%", &many, None, tall_size, Format::Png).unwrap(),
    );
    let tall = svg_text(&compare("60 areas", "%", &many, None, tall_size, Format::Svg).unwrap());
    let names = |svg: &str| {
        texts(svg)
            .iter()
            .filter(|t| t.starts_with("Ward number"))
            .count()
    };
    assert_eq!(names(&tall), 60);
    let short =
        svg_text(&compare("60 areas", "%", &many, None, Size::default(), Format::Svg).unwrap());
    assert!((10..60).contains(&names(&short)), "{}", names(&short));
}

#[test]
fn funnel_chart() {
    let (points, limits) = funnel_data();
    let svg = all_ways("funnel", |s, f| {
        funnel(
            "Readmissions within 30 days",
            "%",
            10.0,
            &points,
            &limits,
            s,
            f,
        )
    });
    let t = texts(&svg);
    assert!(t.contains(&"Readmissions within 30 days".to_string()));
    assert!(t.contains(&"Denominator".to_string()));
    assert!(t.contains(&"99.8% limits".to_string()));
    // One point per area (fill and outline), plus two per outcome in the legend.
    assert_eq!(svg.matches("<circle").count(), 2 * points.len() + 2 * 3);
}

#[test]
fn spine_chart() {
    let rows = spine_rows();
    let svg = all_ways("spine", |s, f| {
        spine("Health profile", "Hackney", &rows, s, f)
    });
    let t = texts(&svg);
    assert!(t.contains(&"Health profile".to_string()));
    assert!(t.contains(&"Hackney".to_string()));
    assert!(t.contains(&"Smoking prevalence in adults".to_string()));
    assert!(
        t.iter()
            .any(|l| l.starts_with("Under 75 mortality") && l.ends_with('…')),
        "{t:?}"
    );
    assert!(t.contains(&"suppressed".to_string()));
    assert!(t.contains(&"20.0".to_string()), "the area's value as text");
    // The suppressed row (Higher) gets no circle and so no legend entry: 4 rows and 4 keys.
    assert_eq!(svg.matches("<circle").count(), 2 * 4 + 2 * 4);
    assert!(!t.contains(&"Higher".to_string()));
}

#[test]
fn choropleth_of_real_wards() {
    for (file, label) in [
        ("wards_E09000012.geojson", "hackney"),
        ("wards_E09000001.geojson", "city"),
    ] {
        let mut areas = boundaries(file);
        assert!(areas.len() >= 20, "{file}: {} wards", areas.len());
        for (i, a) in areas.iter_mut().enumerate() {
            a.value = (i % 7 != 3).then(|| 10.0 + (i as f64 * 13.7) % 50.0);
            a.suppressed = i == 5;
        }
        let rings: usize = areas.iter().map(|a| a.rings.len()).sum();
        let svg = all_ways(&format!("map-{label}"), |s, f| {
            choropleth("Ward rates", "per 1,000", &areas, s, f)
        });
        for a in &areas {
            assert!(
                svg.contains(&format!("<title>{} ", a.code)),
                "{file}: no polygon for {}",
                a.code
            );
        }
        // Outer rings are filled (holes are left to the areas inside them).
        let titled = svg.matches("<title>").count();
        assert!(
            titled >= areas.len() && titled <= rings,
            "{titled} filled rings of {rings}"
        );
        let t = texts(&svg);
        assert!(t.contains(&"Ward rates".to_string()) && t.contains(&"per 1,000".to_string()));
        assert!(t.contains(&"No data / suppressed".to_string()));
        assert_eq!(
            t.iter().filter(|l| l.contains(" – ")).count(),
            5,
            "five classes: {t:?}"
        );
        // The suppressed ward is filled as no data, not with a class colour.
        let code = &areas[5].code;
        let at = svg.find(&format!("<title>{code} ")).unwrap();
        let polygon = &svg[svg[..at].rfind("<polygon").unwrap()..at];
        assert!(polygon.contains("fill=\"#F0F0F0\""), "{polygon}");
    }
}

#[test]
fn map_with_no_values_and_all_equal_values() {
    let mut areas = boundaries("wards_E09000001.geojson");
    let none =
        svg_text(&choropleth("No values", "x", &areas, Size::default(), Format::Svg).unwrap());
    assert!(texts(&none).contains(&"No data / suppressed".to_string()));
    for a in &mut areas {
        a.value = Some(7.0);
    }
    let same = svg_text(&choropleth("Same", "x", &areas, Size::default(), Format::Svg).unwrap());
    assert!(texts(&same).contains(&"7.0".to_string()));
}

#[test]
fn empty_inputs_render_a_note() {
    let s = Size::default();
    for format in FORMATS {
        let all = [
            trend("Empty trend", "y", &[], s, format),
            trigger("Empty trigger", &[], s, format),
            quantiles("Empty quantiles", "y", &[], None, None, s, format),
            compare("Empty compare", "y", &[], None, s, format),
            funnel("Empty funnel", "y", 1.0, &[], &[], s, format),
            spine("Empty spine", "Nowhere", &[], s, format),
            choropleth("Empty map", "y", &[], s, format),
        ];
        for r in all {
            let r = r.unwrap();
            let svg = check(&r, s);
            if format == Format::Svg {
                assert!(texts(&svg).contains(&"No data".to_string()), "{svg}");
            }
        }
    }
}

#[test]
fn missing_nan_and_equal_values() {
    let s = Size::default();
    let odd = |v: Option<f64>| TrendPoint {
        label: "2020".into(),
        value: v,
        lower: Some(f64::NAN),
        upper: Some(f64::INFINITY),
        benchmark: None,
        ..TrendPoint::default()
    };
    let cases = [
        vec![odd(None), odd(Some(f64::NAN))],
        vec![odd(Some(5.0)), odd(Some(5.0)), odd(Some(5.0))],
        vec![odd(Some(0.0))],
        vec![TrendPoint {
            suppressed: true,
            value: Some(3.0),
            ..odd(None)
        }],
    ];
    for points in &cases {
        for f in FORMATS {
            check(&trend("Odd", "y", points, s, f).unwrap(), s);
        }
    }
    let bars = vec![
        Bar {
            label: "a".into(),
            value: Some(f64::NAN),
            ..Bar::default()
        },
        Bar {
            label: "b".into(),
            value: Some(2.0),
            lower: Some(2.0),
            upper: Some(2.0),
            ..Bar::default()
        },
        Bar {
            label: "c".into(),
            value: Some(-3.0),
            ..Bar::default()
        },
    ];
    let trig = vec![TriggerPoint {
        label: "w".into(),
        observed: Some(f64::NAN),
        ..TriggerPoint::default()
    }];
    let fun = vec![FunnelPoint {
        label: "a".into(),
        denominator: f64::NAN,
        value: 1.0,
        outcome: Outcome::Worse,
    }];
    let flat = vec![FunnelLimits {
        denominator: 10.0,
        ..FunnelLimits::default()
    }];
    let rows = vec![SpineRow {
        indicator: "x".into(),
        value: Some(f64::NAN),
        ..SpineRow::default()
    }];
    for f in FORMATS {
        check(
            &quantiles("Q", "y", &bars, Some((f64::NAN, 1.0)), Some(f64::NAN), s, f).unwrap(),
            s,
        );
        check(
            &compare("C", "y", &bars, Some(f64::INFINITY), s, f).unwrap(),
            s,
        );
        check(&trigger("T", &trig, s, f).unwrap(), s);
        check(&funnel("F", "y", f64::NAN, &fun, &flat, s, f).unwrap(), s);
        check(&spine("S", "A", &rows, s, f).unwrap(), s);
    }
}

#[test]
fn long_titles_are_cut() {
    let title = "A very long title ".repeat(20);
    let svg = svg_text(&trend(&title, "y", &trend_points(), Size::default(), Format::Svg).unwrap());
    assert!(
        texts(&svg)
            .iter()
            .any(|t| t.starts_with("A very long title") && t.ends_with('…'))
    );
}

#[test]
fn bad_sizes_and_formats_are_errors() {
    assert!(matches!(
        Size::new(199, 500),
        Err(ChartError::BadSize {
            width: 199,
            height: 500
        })
    ));
    assert!(matches!(
        Size::new(900, 4001),
        Err(ChartError::BadSize { .. })
    ));
    assert!(Size::new(4000, 200).is_ok());
    let tiny = Size {
        width: 50,
        height: 50,
    };
    assert!(matches!(
        trend("t", "y", &[], tiny, Format::Png),
        Err(ChartError::BadSize { .. })
    ));
    assert!(matches!(
        choropleth("t", "y", &[], tiny, Format::Svg),
        Err(ChartError::BadSize { .. })
    ));
    assert_eq!(Format::parse(" SVG ").unwrap(), Format::Svg);
    assert_eq!("png".parse::<Format>().unwrap().extension(), "png");
    assert!(matches!(
        Format::parse("jpeg"),
        Err(ChartError::BadFormat(_))
    ));
    assert_eq!(Outcome::parse("Worse"), Outcome::Worse);
    assert_eq!(Outcome::parse("lower"), Outcome::Lower);
    assert_eq!(Outcome::parse("Not compared"), Outcome::NotCompared);
    assert_eq!(Outcome::parse(""), Outcome::NotCompared);
}

/// Text is drawn from the embedded fonts (the `ttf` feature, which needs system fonts, is off):
/// a chart with a title has dark pixels where the same chart without one has none.
#[test]
fn png_text_renders_from_embedded_fonts() {
    let s = Size::default();
    let with = trend("Title text", "", &[], s, Format::Png).unwrap();
    let without = trend("", "", &[], s, Format::Png).unwrap();
    assert_ne!(with.bytes, without.bytes);
    let dark = |bytes: &[u8]| {
        let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        // The title band: the top 40 rows.
        pixels[..(s.width * 40 * 3) as usize]
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 100))
            .count()
    };
    assert!(
        dark(&with.bytes) > 100,
        "{} dark pixels in the title band",
        dark(&with.bytes)
    );
    assert_eq!(dark(&without.bytes), 0);
}
