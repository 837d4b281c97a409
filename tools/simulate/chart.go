package simulate

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"regexp"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// echartsJS is Apache ECharts 5.6.0 (dist/echarts.min.js from npm; license
// and notice beside it), inlined into HTML charts so they open without a
// network, as the machines linecook runs on often have none.
//
//go:embed assets/echarts.min.js
var echartsJS []byte

// maxPoints bounds the points per line: a day has 86,400 seconds, more
// than a chart has pixels. Each point is the maximum of its bucket, so
// peaks survive.
const maxPoints = 1500

// line is one curve of a chart: x in minutes.
type line struct {
	name   string
	x, y   []float64
	dashed bool
	// color and dash pick the PNG style: a colour per run (or per stage
	// for one run), a dash pattern per stage when runs are compared.
	color, dash int
}

// chart is one metric over time.
type chart struct {
	title, unit string
	lines       []line
}

// charts builds the two charts, backlog and tasks. One run: a line per
// stage (and desired tasks dashed). Several runs (--compare): a line per
// run, or per run and stage for a pipeline.
func buildCharts(results []*Result) []chart {
	backlog := chart{title: "Backlog (messages visible)", unit: "messages"}
	tasks := chart{title: "Tasks running", unit: "tasks"}
	for ri, r := range results {
		for si, s := range r.Stages {
			name := s.Name
			switch {
			case len(results) > 1 && len(r.Stages) > 1:
				name = r.Label + " · " + s.Name
			case len(results) > 1:
				name = r.Label
			}
			color, dash := ri, si
			if len(results) == 1 {
				color, dash = si, 0
			}
			for _, c := range []struct {
				ch *chart
				v  []int32
			}{{&backlog, s.Series.Visible}, {&tasks, s.Series.Running}} {
				l := downsample(name, c.v)
				l.color, l.dash = color, dash
				c.ch.lines = append(c.ch.lines, l)
			}
			if len(results) == 1 {
				d := downsample(name+" desired", s.Series.Desired)
				d.dashed, d.color = true, color
				tasks.lines = append(tasks.lines, d)
			}
		}
	}
	if len(results) == 1 {
		tasks.title = "Tasks running (dashed: desired)"
	}
	return []chart{backlog, tasks}
}

func downsample(name string, v []int32) line {
	step := max(1, (len(v)+maxPoints-1)/maxPoints)
	l := line{name: name}
	for i := 0; i < len(v); i += step {
		m := v[i]
		for _, x := range v[i:min(i+step, len(v))] {
			m = max(m, x)
		}
		l.x = append(l.x, float64(i+1)/60)
		l.y = append(l.y, float64(m))
	}
	return l
}

// WritePNG draws the backlog and task charts, one above the other, as a
// PNG image.
func WritePNG(w io.Writer, results []*Result) error {
	cs := buildCharts(results)
	const width, height = 28 * vg.Centimeter, 10 * vg.Centimeter
	img := vgimg.New(width, height*vg.Length(len(cs)))
	dc := draw.New(img)
	var plots [][]*plot.Plot
	for i, c := range cs {
		p := plot.New()
		p.Title.Text = c.title
		if i == 0 && len(results) > 0 {
			p.Title.Text += " — " + results[0].Scenario
		}
		p.X.Label.Text = "minutes"
		p.Y.Label.Text = c.unit
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		for _, l := range c.lines {
			xys := make(plotter.XYs, len(l.x))
			for k := range l.x {
				xys[k].X, xys[k].Y = l.x[k], l.y[k]
			}
			pl, err := plotter.NewLine(xys)
			if err != nil {
				return fmt.Errorf("chart %s, %s: %w", c.title, l.name, err)
			}
			pl.Color = plotutil.Color(l.color)
			pl.Width = vg.Points(1.2)
			pl.Dashes = plotutil.Dashes(l.dash)
			if l.dashed {
				pl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(pl)
			p.Legend.Add(l.name, pl)
		}
		plots = append(plots, []*plot.Plot{p})
	}
	tiles := draw.Tiles{Rows: len(cs), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 6}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

var echartsScript = regexp.MustCompile(`<script src="[^"]*echarts\.min\.js"></script>`)

// WriteHTML writes a self-contained page with the backlog and task charts
// (zoomable, with tooltips): ECharts is inlined, nothing is fetched.
func WriteHTML(w io.Writer, results []*Result) error {
	page := components.NewPage()
	page.PageTitle = "linecook simulate"
	for i, c := range buildCharts(results) {
		ch := charts.NewLine()
		title := opts.Title{Title: c.title}
		if i == 0 && len(results) > 0 {
			title.Subtitle = results[0].Scenario
		}
		ch.SetGlobalOptions(
			charts.WithInitializationOpts(opts.Initialization{PageTitle: page.PageTitle, Width: "1100px", Height: "440px"}),
			charts.WithTitleOpts(title),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "30"}),
			charts.WithGridOpts(opts.Grid{Top: "110"}),
			charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "minutes"}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: c.unit}),
			charts.WithDataZoomOpts(opts.DataZoom{Type: "inside"}, opts.DataZoom{Type: "slider"}),
			charts.WithAnimation(false),
		)
		for _, l := range c.lines {
			data := make([]opts.LineData, len(l.x))
			for k := range l.x {
				data[k] = opts.LineData{Value: []any{l.x[k], l.y[k]}}
			}
			style := opts.LineStyle{Width: 1.5}
			if l.dashed {
				style.Type = "dashed"
			}
			ch.AddSeries(l.name, data,
				charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
				charts.WithLineStyleOpts(style))
		}
		page.AddCharts(ch)
	}
	var buf bytes.Buffer
	if err := page.Render(&buf); err != nil {
		return err
	}
	html := buf.Bytes()
	if !echartsScript.Match(html) {
		return fmt.Errorf("html chart: go-echarts no longer links echarts.min.js as expected; cannot inline it")
	}
	inline := append(append([]byte("<script>"), echartsJS...), "</script>"...)
	html = echartsScript.ReplaceAllLiteral(html, inline)
	_, err := w.Write(html)
	return err
}
