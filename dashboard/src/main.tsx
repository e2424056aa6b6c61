import { render } from 'preact';
import { App } from './App.tsx';
import { applyTheme } from './theme.ts';
import './styles.css';

applyTheme();
render(<App />, document.getElementById('app') as HTMLElement);
