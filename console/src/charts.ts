// Bar and line charts drawn as SVG: the usage page needs nothing more, and
// no charting library (or CDN) comes with the console.
import { svg } from "./dom";

export interface Point {
  label: string;
  value: number;
}

const WIDTH = 640;
const HEIGHT = 180;
const LEFT = 56;
const BOTTOM = 22;

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function frame(title: string, points: Point[], format: (n: number) => string): { chart: SVGElement; max: number; plot: (i: number) => number } {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" });
  chart.append(svg("title", {}, document.createTextNode(title)));
  for (const fraction of [0, 0.5, 1]) {
    const y = HEIGHT - BOTTOM - fraction * (HEIGHT - BOTTOM - 8);
    chart.append(svg("line", { x1: LEFT, x2: WIDTH, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "axis" });
    label.textContent = format(max * fraction);
    chart.append(label);
  }
  const span = (WIDTH - LEFT) / Math.max(1, points.length);
  const every = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((point, i) => {
    if (i % every) return;
    const text = svg("text", { x: LEFT + span * i + span / 2, y: HEIGHT - 6, "text-anchor": "middle", class: "axis" });
    text.textContent = point.label;
    chart.append(text);
  });
  return { chart, max, plot: (i) => LEFT + span * i };
}

/** One bar a point, each with its value as a tooltip. */
export function bars(title: string, points: Point[], format: (n: number) => string = String): SVGElement {
  const { chart, max, plot } = frame(title, points, format);
  const span = (WIDTH - LEFT) / Math.max(1, points.length);
  points.forEach((point, i) => {
    const height = (point.value / max) * (HEIGHT - BOTTOM - 8);
    const bar = svg("rect", { x: plot(i) + span * 0.15, y: HEIGHT - BOTTOM - height, width: span * 0.7, height: Math.max(height, point.value ? 1 : 0), class: "bar" });
    bar.append(svg("title", {}, document.createTextNode(`${point.label}: ${format(point.value)}`)));
    chart.append(bar);
  });
  return chart;
}

/** A running total as a line with its area. */
export function line(title: string, points: Point[], format: (n: number) => string = String): SVGElement {
  const { chart, max, plot } = frame(title, points, format);
  const span = (WIDTH - LEFT) / Math.max(1, points.length);
  const xy = points.map((p, i) => [plot(i) + span / 2, HEIGHT - BOTTOM - (p.value / max) * (HEIGHT - BOTTOM - 8)] as const);
  if (xy.length) {
    const path = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
    const first = xy[0]!;
    const last = xy[xy.length - 1]!;
    chart.append(svg("path", { d: `${path} L${last[0].toFixed(1)},${HEIGHT - BOTTOM} L${first[0].toFixed(1)},${HEIGHT - BOTTOM} Z`, class: "area" }));
    chart.append(svg("path", { d: path, class: "line" }));
  }
  return chart;
}
