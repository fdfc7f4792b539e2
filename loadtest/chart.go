package main

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// chart is a line chart rendered as inline SVG: the report must open with
// no network, so no chart library is loaded from anywhere.
type chart struct {
	Title  string
	YUnit  string
	XUnit  string // "seconds" when empty
	Series []chartSeries
	Band   *chartBand  // the send phase, shaded
	Marks  []chartMark // kills, as vertical lines
	// XMin/XMax, when XMax > XMin, fix the x range so charts of one
	// report line up; else the data decides.
	XMin, XMax float64
}

type chartSeries struct {
	Name   string
	Color  string
	X, Y   []float64
	Dashed bool
}

type chartBand struct{ From, To float64 }

type chartMark struct {
	X     float64
	Label string
}

const (
	chartW, chartH                 = 760, 260
	padL, padR, padT, padB         = 64, 16, 30, 34
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	chartFont                      = `font-family="sans-serif" font-size="11"`
	titleFont                      = `font-family="sans-serif" font-size="13" font-weight="bold"`
	gridColor, axisColor, bandFill = "#e5e5e5", "#888", "#eef5ff"
)

// palette for series without a color.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// svg renders the chart; an empty chart says so instead of drawing axes.
func (c chart) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="18" %s>%s</text>`, padL, titleFont, html.EscapeString(c.Title))
	xmin, xmax, ymax, n := math.Inf(1), math.Inf(-1), 0.0, 0
	for _, s := range c.Series {
		for i := range s.X {
			if i >= len(s.Y) || math.IsNaN(s.Y[i]) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymax = math.Max(ymax, s.Y[i])
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s fill="%s">no data</text></svg>`, padL+plotW/2-20, padT+plotH/2, chartFont, axisColor)
		return b.String()
	}
	if c.XMax > c.XMin {
		xmin, xmax = c.XMin, c.XMax
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	py := func(y float64) float64 { return padT + plotH - y/ymax*plotH }

	if c.Band != nil && c.Band.To > c.Band.From {
		x0, x1 := px(math.Max(c.Band.From, xmin)), px(math.Min(c.Band.To, xmax))
		if x1 > x0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`, x0, padT, x1-x0, plotH, bandFill)
		}
	}
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, padL, py(y), padL+plotW, py(y), gridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end" fill="#444">%s</text>`, padL-6, py(y)+4, chartFont, fmtTick(y))
	}
	for _, x := range xTicks(xmin, xmax, 8) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, px(x), padT+plotH, px(x), padT+plotH+4, axisColor)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle" fill="#444">%s</text>`, px(x), padT+plotH+16, chartFont, fmtTick(x))
	}
	xunit := c.XUnit
	if xunit == "" {
		xunit = "seconds"
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s text-anchor="end" fill="#444">%s</text>`, padL+plotW, chartH-4, chartFont, html.EscapeString(xunit))
	fmt.Fprintf(&b, `<text x="12" y="%d" %s fill="#444" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`,
		padT+plotH/2, chartFont, padT+plotH/2, html.EscapeString(c.YUnit))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, padL, padT+plotH, padL+plotW, padT+plotH, axisColor)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, padL, padT, padL, padT+plotH, axisColor)

	for _, m := range c.Marks {
		if m.X < xmin || m.X > xmax {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-dasharray="4 3"/>`, px(m.X), padT, px(m.X), padT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s fill="#d62728">%s</text>`, px(m.X)+3, padT+10, chartFont, html.EscapeString(m.Label))
	}
	lx := padL + plotW
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		var d strings.Builder
		penUp := true // a NaN breaks the line instead of bridging the hole
		for j := range s.X {
			if j >= len(s.Y) || math.IsNaN(s.Y[j]) || s.X[j] < xmin || s.X[j] > xmax {
				penUp = true
				continue
			}
			cmd := "L"
			if penUp {
				cmd, penUp = "M", false
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, px(s.X[j]), py(s.Y[j]))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>`, strings.TrimSpace(d.String()), color, dash)
		// Legend, right-aligned along the top.
		label := html.EscapeString(s.Name)
		w := 14 + 7*len(s.Name)
		lx -= w + 10
		fmt.Fprintf(&b, `<line x1="%d" y1="14" x2="%d" y2="14" stroke="%s" stroke-width="3"/>`, lx, lx+10, color)
		fmt.Fprintf(&b, `<text x="%d" y="18" %s>%s</text>`, lx+13, chartFont, label)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*exp*(1+1e-9) {
			return m * exp
		}
	}
	return 10 * exp
}

// xTicks picks about n round tick values in [min, max].
func xTicks(min, max float64, n int) []float64 {
	step := niceCeil((max - min) / float64(n))
	var out []float64
	for x := math.Ceil(min/step) * step; x <= max+1e-9; x += step {
		out = append(out, x)
	}
	return out
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case math.Abs(v) >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case math.Abs(v) >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
