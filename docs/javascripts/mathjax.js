// MathJax 3 for pymdownx.arithmatex (generic mode): maths arrives in
// \( ... \) and \[ ... \] inside elements of class "arithmatex".
window.MathJax = {
  loader: { load: ["[tex]/mathtools", "[tex]/textmacros"] },
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    packages: { "[+]": ["mathtools", "textmacros"] },
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// re-typeset after instant navigation (mkdocs-material)
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  });
}
