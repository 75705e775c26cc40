// The Jupyter widgets HTML manager typesets labels with MathJax 2's API (MathJax.Hub.Queue); the book
// serves MathJax 3. Once MathJax 3 has started, give it that one entry point, mapped to typesetPromise.
(function () {
  var config = window.MathJax = window.MathJax || {};
  config.startup = config.startup || {};
  var ready = config.startup.ready;
  config.startup.ready = function () {
    if (ready) { ready(); } else { MathJax.startup.defaultReady(); }
    MathJax.Hub = { Queue: function () { if (MathJax.typesetPromise) { MathJax.typesetPromise(); } } };
  };
})();
