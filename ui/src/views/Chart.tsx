// A line chart drawn as SVG: one line per member over the sampled window, the newest value in
// the legend. No library: a few polylines are all it takes.
import type { Point } from '../lib/metrics.js';

export interface Line {
  label: string;
  points: Point[];
}

const W = 320;
const H = 110;
const COLORS = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed'];

export function Chart({ title, unit, lines }: { title: string; unit: string; lines: Line[] }) {
  const all = lines.flatMap((l) => l.points);
  const maxY = Math.max(1e-9, ...all.map((p) => p.value)) * 1.1;
  const minX = Math.min(...all.map((p) => p.atMs));
  const maxX = Math.max(...all.map((p) => p.atMs));
  const x = (t: number): number => (maxX === minX ? W : ((t - minX) / (maxX - minX)) * W);
  const y = (v: number): number => H - (v / maxY) * H;
  const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));
  return (
    <figure class="chart card">
      <figcaption>
        {title} <span class="muted small">({unit}, max {fmt(maxY / 1.1)})</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title} over the last minutes`}>
        <line x1="0" y1={H} x2={W} y2={H} class="axis" />
        {lines.map((l, i) => (
          <polyline key={l.label} fill="none" stroke={COLORS[i % COLORS.length]} stroke-width="2" vector-effect="non-scaling-stroke" points={l.points.map((p) => `${x(p.atMs).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ')} />
        ))}
      </svg>
      <ul class="legend">
        {lines.map((l, i) => (
          <li key={l.label}>
            <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} />
            {l.label}: {l.points.length === 0 ? '—' : fmt(l.points[l.points.length - 1].value)}
          </li>
        ))}
      </ul>
    </figure>
  );
}
