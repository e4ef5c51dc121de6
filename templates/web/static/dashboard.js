// The dashboard's charts (Apache ECharts, vendored): data from the page's JSON block, labels
// from the charts' own data attributes (translated on the server). No data, no chart.
(function () {
  "use strict";
  var block = document.getElementById("dashboard-data");
  if (!block || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(block.textContent);
  var charts = [];

  function draw(id, option) {
    var element = document.getElementById(id);
    if (!element) {
      return;
    }
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }

  var portfolio = document.getElementById("chart-portfolio");
  if (portfolio) {
    draw("chart-portfolio", {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 60, right: 70, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.buckets },
      yAxis: [{ type: "value" }, { type: "value" }],
      series: [
        { name: portfolio.dataset.accountsLabel, type: "bar", data: data.accounts },
        { name: portfolio.dataset.balanceLabel, type: "line", yAxisIndex: 1, data: data.balance }
      ]
    });
  }
  var roll = document.getElementById("chart-roll");
  if (roll) {
    draw("chart-roll", {
      animation: false,
      tooltip: {
        trigger: "axis",
        valueFormatter: function (value) {
          return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
        }
      },
      legend: { top: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.roll_from },
      yAxis: {
        type: "value",
        axisLabel: {
          formatter: function (value) {
            return Math.round(value * 100) + "%";
          }
        }
      },
      series: [{ name: roll.dataset.rollLabel, type: "bar", data: data.roll }]
    });
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });
})();
