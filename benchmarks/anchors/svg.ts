/**
 * The charts of the anchors benchmark as standalone SVG (no dependencies,
 * no scripts, no external fonts). Pure: data in, markup out.
 */

const FONT = 'font-family="sans-serif" font-size="12"'
/** one colour per series, readable on white and for common colour blindness (Okabe-Ito) */
export const PALETTE = ['#0072B2', '#56B4E9', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#F0E442', '#000000']

function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function svg (width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    ''
  ].join('\n')
}

export interface HeatmapCell {
  /** shown in the cell, e.g. `3/3` */
  text: string
  /** 0..1 colours the cell from red to green; undefined: grey (not run) */
  fraction?: number
}

/**
 * A table of cells coloured by a fraction (success per pair and system)
 */
export function heatmap (title: string, rows: string[], columns: string[], cell: (row: number, column: number) => HeatmapCell, note = ''): string {
  const rowLabelWidth = 270
  const cellWidth = 92
  const cellHeight = 22
  const headerHeight = 64
  const top = 34
  const width = Math.max(rowLabelWidth + columns.length * cellWidth + 20, title.length * 8 + 20)
  const height = top + headerHeight + rows.length * cellHeight + (note !== '' ? 34 : 16)
  const body: string[] = [`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`]

  columns.forEach((column, c) => {
    const x = rowLabelWidth + c * cellWidth + cellWidth / 2
    const lines = column.split('\n')
    lines.forEach((line, i) => {
      body.push(`<text x="${x}" y="${top + headerHeight - 8 - (lines.length - 1 - i) * 14}" text-anchor="middle">${esc(line)}</text>`)
    })
  })
  rows.forEach((row, r) => {
    const y = top + headerHeight + r * cellHeight
    body.push(`<text x="${rowLabelWidth - 8}" y="${y + 15}" text-anchor="end">${esc(row)}</text>`)
    columns.forEach((_, c) => {
      const { text, fraction } = cell(r, c)
      const x = rowLabelWidth + c * cellWidth
      body.push(`<rect x="${x + 1}" y="${y + 1}" width="${cellWidth - 2}" height="${cellHeight - 2}" fill="${fraction == null ? '#eeeeee' : shade(fraction)}"/>`)
      body.push(`<text x="${x + cellWidth / 2}" y="${y + 15}" text-anchor="middle">${esc(text)}</text>`)
    })
  })
  if (note !== '') {
    body.push(`<text x="10" y="${height - 12}" fill="#555">${esc(note)}</text>`)
  }
  return svg(width, height, body)
}

/** red (0) → yellow (0.5) → green (1), light enough for black text */
function shade (fraction: number): string {
  const f = Math.max(0, Math.min(1, fraction))
  const r = f < 0.5 ? 244 : Math.round(244 - (f - 0.5) * 2 * (244 - 150))
  const g = f < 0.5 ? Math.round(150 + f * 2 * (226 - 150)) : Math.round(226 - (f - 0.5) * 2 * (226 - 214))
  const b = f < 0.5 ? 150 : Math.round(150 - (f - 0.5) * 2 * (150 - 140))
  return `rgb(${r},${g},${b})`
}

export interface RangePoint {
  median: number
  min: number
  max: number
  /** shown after the bar, e.g. `3/3` */
  label?: string
}

/**
 * Horizontal bars with whiskers on a log scale: one group per row, one bar
 * per series (time to direct per pair and system)
 */
export function rangeBars (title: string, rows: string[], series: string[], value: (row: number, s: number) => RangePoint | undefined, options: { unit: string, ticks: number[], note?: string }): string {
  const rowLabelWidth = 270
  const plotWidth = 560
  const barHeight = 9
  const gap = 8
  const groupHeight = series.length * barHeight + gap
  const top = 40 + Math.ceil(series.length / 3) * 16
  const width = rowLabelWidth + plotWidth + 110
  const height = top + rows.length * groupHeight + 40 + (options.note != null ? 18 : 0)
  const lo = Math.log10(options.ticks[0])
  const hi = Math.log10(options.ticks[options.ticks.length - 1])
  const xOf = (v: number): number => rowLabelWidth + (Math.log10(Math.max(options.ticks[0], Math.min(v, options.ticks[options.ticks.length - 1]))) - lo) / (hi - lo) * plotWidth
  const body: string[] = [`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`]

  series.forEach((name, s) => {
    const x = 10 + (s % 3) * 300
    const y = 34 + Math.floor(s / 3) * 16
    body.push(`<rect x="${x}" y="${y}" width="12" height="10" fill="${PALETTE[s % PALETTE.length]}"/>`)
    body.push(`<text x="${x + 16}" y="${y + 9}">${esc(name)}</text>`)
  })
  const plotBottom = top + rows.length * groupHeight
  for (const tick of options.ticks) {
    const x = xOf(tick)
    body.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${plotBottom}" stroke="#ddd"/>`)
    body.push(`<text x="${x}" y="${plotBottom + 14}" text-anchor="middle">${tick >= 1000 ? `${tick / 1000} s` : `${tick}`}</text>`)
  }
  body.push(`<text x="${rowLabelWidth + plotWidth / 2}" y="${plotBottom + 30}" text-anchor="middle">${esc(options.unit)} (log scale; bar = median, whisker = min–max)</text>`)
  rows.forEach((row, r) => {
    const y0 = top + r * groupHeight
    body.push(`<text x="${rowLabelWidth - 8}" y="${y0 + (series.length * barHeight) / 2 + 4}" text-anchor="end">${esc(row)}</text>`)
    series.forEach((_, s) => {
      const v = value(r, s)
      const y = y0 + s * barHeight
      if (v == null) {
        body.push(`<text x="${rowLabelWidth + 4}" y="${y + barHeight - 1}" font-size="9" fill="#999">no direct trial</text>`)
        return
      }
      const colour = PALETTE[s % PALETTE.length]
      body.push(`<rect x="${rowLabelWidth}" y="${y + 1}" width="${Math.max(1, xOf(v.median) - rowLabelWidth)}" height="${barHeight - 2}" fill="${colour}"/>`)
      body.push(`<line x1="${xOf(v.min)}" y1="${y + barHeight / 2}" x2="${xOf(v.max)}" y2="${y + barHeight / 2}" stroke="#333"/>`)
      body.push(`<text x="${Math.max(xOf(v.max), xOf(v.median)) + 4}" y="${y + barHeight - 1}" font-size="9">${esc(`${Math.round(v.median)}${v.label != null ? ` (${v.label})` : ''}`)}</text>`)
    })
  })
  if (options.note != null) {
    body.push(`<text x="10" y="${height - 8}" fill="#555">${esc(options.note)}</text>`)
  }
  return svg(width, height, body)
}

export interface Series {
  name: string
  colour: string
  /** fill opacity, default 1 */
  opacity?: number
}

/**
 * Vertical grouped bars with whiskers on a linear scale: one group per
 * category, one bar per series (throughput per setting and system); the
 * legend lists `legend` (defaults to the series)
 */
export function groupedBars (title: string, groups: string[], series: Series[], value: (group: number, s: number) => RangePoint | undefined, options: { unit: string, note?: string, legend?: Series[] }): string {
  const legend = options.legend ?? series
  const left = 70
  const barWidth = 22
  const groupGap = 30
  const groupWidth = series.length * barWidth + groupGap
  const plotHeight = 260
  const legendColumn = 330
  const width = Math.max(left + groups.length * groupWidth + 20, 2 * legendColumn + 20, title.length * 8 + 20)
  const top = 50 + Math.ceil(legend.length / 2) * 16
  const height = top + plotHeight + 60 + (options.note != null ? 18 : 0)
  let maxValue = 0
  groups.forEach((_, g) => series.forEach((_, s) => { maxValue = Math.max(maxValue, value(g, s)?.max ?? 0) }))
  const step = niceStep(maxValue / 5)
  const top_ = Math.max(step, Math.ceil(maxValue / step) * step)
  const yOf = (v: number): number => top + plotHeight - (v / top_) * plotHeight
  const body: string[] = [`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`]

  legend.forEach((entry, i) => {
    const x = 10 + (i % 2) * legendColumn
    const y = 34 + Math.floor(i / 2) * 16
    body.push(`<rect x="${x}" y="${y}" width="12" height="10" fill="${entry.colour}" fill-opacity="${entry.opacity ?? 1}"/>`)
    body.push(`<text x="${x + 16}" y="${y + 9}">${esc(entry.name)}</text>`)
  })
  for (let v = 0; v <= top_ + 1e-9; v += step) {
    const y = yOf(v)
    body.push(`<line x1="${left}" y1="${y}" x2="${width - 10}" y2="${y}" stroke="#ddd"/>`)
    body.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${Number(v.toPrecision(6))}</text>`)
  }
  body.push(`<text x="16" y="${top + plotHeight / 2}" transform="rotate(-90 16 ${top + plotHeight / 2})" text-anchor="middle">${esc(options.unit)}</text>`)
  groups.forEach((group, g) => {
    const x0 = left + 10 + g * groupWidth
    series.forEach((entry, s) => {
      const v = value(g, s)
      const x = x0 + s * barWidth
      if (v == null) {
        body.push(`<text x="${x + barWidth / 2}" y="${yOf(0) - 4}" text-anchor="middle" font-size="9" fill="#999">–</text>`)
        return
      }
      body.push(`<rect x="${x + 2}" y="${yOf(v.median)}" width="${barWidth - 4}" height="${Math.max(0.5, yOf(0) - yOf(v.median))}" fill="${entry.colour}" fill-opacity="${entry.opacity ?? 1}" stroke="${entry.colour}"/>`)
      body.push(`<line x1="${x + barWidth / 2}" y1="${yOf(v.min)}" x2="${x + barWidth / 2}" y2="${yOf(v.max)}" stroke="#333"/>`)
      body.push(`<text x="${x + barWidth / 2}" y="${yOf(v.max) - 4}" text-anchor="middle" font-size="9">${esc(String(Math.round(v.median)))}</text>`)
    })
    const lines = group.split('\n')
    lines.forEach((line, i) => {
      body.push(`<text x="${x0 + (series.length * barWidth) / 2}" y="${top + plotHeight + 16 + i * 14}" text-anchor="middle">${esc(line)}</text>`)
    })
  })
  if (options.note != null) {
    body.push(`<text x="10" y="${height - 8}" fill="#555">${esc(options.note)}</text>`)
  }
  return svg(width, height, body)
}

function niceStep (raw: number): number {
  if (!(raw > 0)) {
    return 1
  }
  const p = 10 ** Math.floor(Math.log10(raw))
  const m = raw / p
  const nice = [1, 2, 5].find(n => m <= n) ?? 10
  return nice * p
}
