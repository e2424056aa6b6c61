export { Chart, type ChartProps, type ChartSeries } from './Chart.tsx';
export { type Column, DataTable, type DataTableProps } from './DataTable.tsx';
export { Empty } from './Empty.tsx';
export { ErrorBox } from './ErrorBox.tsx';
export { FilterBar } from './FilterBar.tsx';
export { KpiCard, type KpiCardProps, KpiValue } from './KpiCard.tsx';
export { Layout, PAGES, PageHeader, type PageId } from './Layout.tsx';
export { Loading } from './Loading.tsx';
export { TimeRange } from './TimeRange.tsx';
