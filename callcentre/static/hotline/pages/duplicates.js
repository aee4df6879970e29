/* Duplicate suggestions (重复件), drawn the same way on the operator console and on a ticket's page: each likely
 * duplicate with its number, status, what it says and why it is suggested, and a button that merges the report
 * on screen into it (only into a ticket still open). The texts come from the page (data-* on the panel).
 *
 * HotlineDuplicates.render(box, suggestions, {texts, ticketUrl(number), canMerge, onMerge(suggestion, button)})
 */
(function () {
  "use strict";

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (match, key) {
      return values && values[key] !== undefined && values[key] !== null ? String(values[key]) : match;
    });
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function item(suggestion, options) {
    var texts = options.texts;
    var li = make("li", "duplicate");
    li.dataset.number = suggestion.number;
    var head = li.appendChild(make("p", "duplicate-head"));
    var link = head.appendChild(make("a", "num", suggestion.number));
    link.href = options.ticketUrl(suggestion.number);
    head.appendChild(make("span", "badge", suggestion.status_display));
    head.appendChild(make("span", "duplicate-title", suggestion.title || suggestion.kind_display));
    var where = [suggestion.district_name, suggestion.address].filter(Boolean).join(" ");
    if (suggestion.excerpt) li.appendChild(make("p", "duplicate-excerpt", suggestion.excerpt));
    if (where || suggestion.lead_department_name) {
      var facts = [where, suggestion.lead_department_name].filter(Boolean).join(" · ");
      li.appendChild(make("p", "duplicate-facts", facts));
    }
    var why = li.appendChild(make("ul", "duplicate-reasons"));
    why.setAttribute("aria-label", texts.why || "");
    (suggestion.reasons || []).forEach(function (reason) {
      why.appendChild(make("li", "reason reason-" + reason.code, reason.text));
    });
    if (suggestion.mergeable && options.canMerge) {
      var button = make("button", "secondary small", format(texts.merge, { number: suggestion.number }));
      button.type = "button";
      button.dataset.mergeInto = suggestion.number;
      button.addEventListener("click", function () {
        if (button.getAttribute("aria-disabled") === "true") return;
        if (!window.confirm(format(texts.confirm, { number: suggestion.number }))) return;
        options.onMerge(suggestion, button);
      });
      li.appendChild(button);
    } else if (!suggestion.mergeable) {
      li.appendChild(make("p", "hint", texts.notMergeable));
    }
    return li;
  }

  function render(box, suggestions, options) {
    var texts = options.texts;
    box.textContent = "";
    box.dataset.state = suggestions && suggestions.length ? "found" : "none";
    box.dataset.count = String((suggestions || []).length);
    if (!suggestions || !suggestions.length) {
      box.appendChild(make("p", "empty", texts.none));
      return;
    }
    box.appendChild(make("p", "duplicates-lead", format(texts.found, { count: suggestions.length })));
    var list = box.appendChild(make("ol", "duplicate-list"));
    suggestions.forEach(function (suggestion) {
      list.appendChild(item(suggestion, options));
    });
  }

  function message(box, text, state) {
    box.textContent = "";
    box.dataset.state = state || "empty";
    box.appendChild(make("p", "empty", text));
  }

  window.HotlineDuplicates = { render: render, message: message, format: format };
})();
