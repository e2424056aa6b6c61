import { useEffect, useState } from 'preact/hooks';

/** The reader's choice, kept across sessions; without one, the system's `prefers-color-scheme`. */
const THEME_KEY = 'openua.theme';
const THEME_EVENT = 'openua-theme';

export type Theme = 'light' | 'dark';

export function currentTheme(): Theme {
  const stored = localStorage.getItem(THEME_KEY);
  if (stored === 'light' || stored === 'dark') return stored;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Sets the theme on the document (the CSS variables follow `data-theme`); call once at start-up. */
export function applyTheme(theme: Theme = currentTheme()): void {
  document.documentElement.dataset.theme = theme;
}

export function setTheme(theme: Theme): void {
  localStorage.setItem(THEME_KEY, theme);
  applyTheme(theme);
  window.dispatchEvent(new Event(THEME_EVENT));
}

/** The theme, re-rendered when the reader toggles it (charts redraw their colours from it). */
export function useTheme(): Theme {
  const [theme, set] = useState(currentTheme);
  useEffect(() => {
    const update = () => set(currentTheme());
    window.addEventListener(THEME_EVENT, update);
    return () => window.removeEventListener(THEME_EVENT, update);
  }, []);
  return theme;
}

/** A CSS variable's value on the document, for the places (charts' canvases) CSS cannot colour. */
export function cssVariable(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
