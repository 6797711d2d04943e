// Page-side helpers for test/notebook_browser.test.ts (plain browser JavaScript, injected with
// playwright's addInitScript into the classic Jupyter Notebook page). They only READ the page state;
// the test drives the notebook through the UI (menus, mouse).
/* global window, document */
window.kitTest = {
  /** The kernel is connected and idle, and no code cell is queued or running ("In [*]"). */
  idle: function () {
    var nb = window.Jupyter && window.Jupyter.notebook;
    if (!nb || !nb.kernel || !nb.kernel.is_connected()) return false;
    if (!document.querySelector('#kernel_indicator_icon.kernel_idle_icon')) return false;
    return !nb.get_cells().some(function (c) { return c.cell_type === 'code' && c.input_prompt_number === '*'; });
  },
  /** Some code cell is queued or running. */
  busy: function () {
    var nb = window.Jupyter && window.Jupyter.notebook;
    return !!nb && nb.get_cells().some(function (c) { return c.cell_type === 'code' && c.input_prompt_number === '*'; });
  },
  dirty: function () { return window.Jupyter.notebook.dirty; },
  figuresSettled: function () {
    return Array.prototype.every.call(document.querySelectorAll('.kit-plotly'), function (f) {
      return f.getAttribute('data-kit-status') === 'interactive';
    });
  },
  /** Per code cell: executed?, error / stderr outputs, images (decoded size, overflow), interactive figures. */
  report: function () {
    var code = window.Jupyter.notebook.get_cells().filter(function (c) { return c.cell_type === 'code'; });
    var out = { codeCells: code.length, unexecuted: [], errors: [], stderr: [], images: [], figures: [], tables: [] };
    code.forEach(function (c, i) {
      var n = i + 1;
      if (typeof c.input_prompt_number !== 'number') out.unexecuted.push(n);
      var el = c.element[0];
      el.querySelectorAll('.output_error').forEach(function (e) { out.errors.push('cell ' + n + ': ' + (e.textContent || '').slice(0, 400)); });
      el.querySelectorAll('.output_stderr').forEach(function (e) { out.stderr.push('cell ' + n + ': ' + (e.textContent || '').slice(0, 400)); });
      el.querySelectorAll('.output_area img').forEach(function (img) {
        var area = img.closest('.output_subarea');
        out.images.push({
          src: 'cell ' + n + ': ' + (img.alt || img.src.slice(0, 40)),
          complete: img.complete,
          w: img.naturalWidth,
          h: img.naturalHeight,
          right: img.getBoundingClientRect().right,
          areaRight: area ? area.getBoundingClientRect().right : 1e9,
        });
      });
      el.querySelectorAll('.kit-table-wrap').forEach(function (t) {
        var area = t.closest('.output_subarea');
        out.tables.push({ cell: n, right: t.getBoundingClientRect().right, areaRight: area ? area.getBoundingClientRect().right : 1e9 });
      });
      el.querySelectorAll('.kit-plotly').forEach(function (f) {
        out.figures.push({
          cell: n,
          status: f.getAttribute('data-kit-status'),
          modebar: f.querySelector('.modebar') !== null,
          hoverlayer: f.querySelector('g.hoverlayer') !== null,
        });
      });
    });
    return out;
  },
  /** Scroll the first interactive figure into view; the page coordinates of the middle point of its first x/y trace. */
  hoverPoint: function () {
    var fig = document.querySelector('.kit-plotly[data-kit-status="interactive"]');
    if (!fig) throw new Error('no interactive figure');
    var gd = fig.querySelector('.js-plotly-plot');
    fig.scrollIntoView({ block: 'center' });
    var trace = gd._fullData.filter(function (t) { return Array.isArray(t.x) && Array.isArray(t.y) && t.visible !== false; })[0];
    if (!trace) throw new Error('the first figure has no x/y trace');
    var k = Math.floor(trace.x.length / 2);
    var box = gd.getBoundingClientRect();
    var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    return { x: box.left + xa._offset + xa.d2p(trace.x[k]), y: box.top + ya._offset + ya.d2p(trace.y[k]) };
  },
  /**
   * Decode every image/png of every output (the PNG of an interactive figure stays in its output
   * bundle after plotly replaced it on screen): [{cell, w, h}] with the decoded pixel size (0 = failed).
   */
  decodeOutputImages: function () {
    var jobs = [];
    window.Jupyter.notebook.get_cells().filter(function (c) { return c.cell_type === 'code'; }).forEach(function (c, i) {
      (c.output_area.outputs || []).forEach(function (o) {
        var b64 = o.data && o.data['image/png'];
        if (!b64) return;
        jobs.push(new Promise(function (resolve) {
          var img = new window.Image();
          img.onload = function () { resolve({ cell: i + 1, w: img.naturalWidth, h: img.naturalHeight }); };
          img.onerror = function () { resolve({ cell: i + 1, w: 0, h: 0 }); };
          img.src = 'data:image/png;base64,' + b64;
        }));
      });
    });
    return Promise.all(jobs);
  },
  /** Height of the whole notebook (the page scrolls inside #site). */
  contentHeight: function () {
    var c = document.querySelector('#notebook-container');
    var header = document.querySelector('#header');
    return (c ? c.scrollHeight : 0) + (header ? header.offsetHeight : 0) + 40;
  },
};
