// The colour scheme: the system's (prefers-color-scheme) unless the user
// picked one with the toggle, which is remembered in localStorage. The CSS
// reads <html data-theme> (styles.css: light-dark() and color-scheme).
export type Theme = "light" | "dark";
const KEY = "chatgate_theme";

export function storedTheme(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : null;
  } catch {
    return null;
  }
}

export function systemTheme(): Theme {
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** Applies the stored choice (none: follow the system). Runs before the first render. */
export function applyTheme(t: Theme | null = storedTheme()) {
  const root = document.documentElement;
  if (t) root.dataset.theme = t;
  else delete root.dataset.theme;
}

export function setTheme(t: Theme) {
  try {
    localStorage.setItem(KEY, t);
  } catch {
    /* not remembered, still applied */
  }
  applyTheme(t);
}
