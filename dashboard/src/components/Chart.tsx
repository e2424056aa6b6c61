import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue, type ValueUnit } from '../format.ts';
import { cssVariable, useTheme } from '../theme.ts';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  unit?: ValueUnit;
  /** Drawn dashed: a previous period, a forecast. */
  dashed?: boolean;
}

export interface ChartProps {
  testId: string;
  title: string;
  /** The x values: Unix seconds for a time axis, else plain numbers (`xKind: 'number'`). */
  x: number[];
  series: ChartSeries[];
  xKind?: 'time' | 'number';
  xLabel?: string;
  /** Bars instead of lines (distributions). */
  bars?: boolean;
  height?: number;
}

const PALETTE = ['--chart-1', '--chart-2', '--chart-3', '--chart-4', '--chart-5', '--chart-6'];

/**
 * A uPlot chart that fits its container's width (redrawn when it resizes), coloured from the theme's CSS
 * variables (redrawn when the theme changes). uPlot's legend shows each series' value under the cursor.
 */
/** Tick steps of a count axis: 1, 2, 5, 10, 20, 50… */
const COUNT_STEPS = Array.from({ length: 10 }, (_, power) =>
  [1, 2, 5].map((step) => step * 10 ** power),
).flat();

export function Chart({ testId, title, x, series, xKind = 'time', xLabel, bars, height = 260 }: ChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  // Pages build new arrays on every render: the chart is rebuilt only when what it draws changes.
  const drawn = JSON.stringify([x, series, xKind, xLabel, bars, height]);

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const foreground = cssVariable('--fg') || '#222';
    const grid = cssVariable('--grid') || '#ddd';
    const axis = { stroke: foreground, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      scales: { x: { time: xKind === 'time' } },
      axes: [
        { ...axis, label: xLabel },
        {
          ...axis,
          values: (_u, ticks) => ticks.map((tick) => formatValue(tick, series[0]?.unit)),
          // A count has whole ticks only: uPlot's own steps would label 0.2, 0.4… as "0", "0"… once rounded.
          ...(series[0]?.unit === 'count' && { incrs: COUNT_STEPS }),
          // Wide enough for the longest label (durations such as "12 min 20 s"), which uPlot's 50 px cuts.
          size: (_u, values) =>
            Math.max(50, 16 + 7 * Math.max(0, ...(values ?? []).map((v) => String(v).length))),
        },
      ],
      cursor: { focus: { prox: 16 } },
      series: [
        { label: xLabel ?? (xKind === 'time' ? 'Time' : 'x') },
        ...series.map((line, index) => {
          const colour = cssVariable(PALETTE[index % PALETTE.length] as string) || '#36c';
          return {
            label: line.label,
            stroke: colour,
            width: 2,
            dash: line.dashed ? [6, 4] : undefined,
            fill: bars ? colour : undefined,
            paths: bars ? uPlot.paths.bars?.({ size: [0.8, 64] }) : undefined,
            spanGaps: false,
            value: (_u: uPlot, value: number | null) => formatValue(value, line.unit),
          };
        }),
      ],
    };
    const plot = new uPlot(options, [x, ...series.map((line) => line.values)] as uPlot.AlignedData, element);
    const observer = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(element.clientWidth, 200), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [drawn, theme]);

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={holder} class="chart-canvas" />
    </figure>
  );
}
