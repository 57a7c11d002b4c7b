#include "report/svg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

namespace fnas::report {
namespace {

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SvgTest, LinearTicksAreNiceStepsInsideTheDomain) {
  EXPECT_EQ(LinearTicks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  // Range 37, about 6 ticks: raw step 6.2 -> 10.
  EXPECT_EQ(LinearTicks(-3, 34, 6), (std::vector<double>{0, 10, 20, 30}));
  // Step 2.5 when it is the nicest fit: raw 2.33 -> 2.5.
  EXPECT_EQ(LinearTicks(0, 14, 6), (std::vector<double>{0, 2.5, 5, 7.5, 10, 12.5}));
  EXPECT_TRUE(LinearTicks(1, 1).empty());
}

TEST(SvgTest, LogTicksUseDecadesThenOneTwoFiveThenAllDigits) {
  EXPECT_EQ(LogTicks(0.3, 3000), (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_EQ(LogTicks(0.5, 20), (std::vector<double>{0.5, 1, 2, 5, 10, 20}));
  EXPECT_EQ(LogTicks(40, 260), (std::vector<double>{50, 100, 200}));
  // Less than half a decade: 1, 2, 3, 5, 7 times the powers of ten.
  EXPECT_EQ(LogTicks(2.5, 7.5), (std::vector<double>{3, 5, 7}));
}

TEST(SvgTest, NumbersAndTextAreFormattedForPeople) {
  EXPECT_EQ(Escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  EXPECT_EQ(Num(0.012345), "0.0123");
  EXPECT_EQ(Num(120), "120");
  EXPECT_EQ(Num(NAN), "n/a");
  EXPECT_EQ(Pct(0.8437), "84.4 %");
  EXPECT_EQ(MMacs(266000000), "266 M");
  EXPECT_EQ(TickLabel(0.5), "0.5");
  EXPECT_EQ(TickLabel(0), "0");
}

TEST(SvgTest, MarkerPathsAreCentredOnThePoint) {
  EXPECT_EQ(MarkerPath(Shape::kSquare, 10, 10, 10), "M1 1h18v18h-18Z");
  EXPECT_EQ(MarkerPath(Shape::kCross, 5, 5, 2), "M3 3L7 7M3 7L7 3");
  EXPECT_EQ(MarkerPath(Shape::kPlus, 5, 5, 2), "M3 5H7M5 3V7");
  EXPECT_EQ(MarkerPath(Shape::kDiamond, 0, 0, 10), "M0 -13L13 0L0 13L-13 0Z");
}

TEST(SvgTest, EveryPointIsDrawnWithItsTooltipAndMissingValuesGoToTheStrip) {
  Plot plot("p", "title <x>", {"x (units)", Scale::kLog}, {"y (%)"});
  plot.AddPoint(1, 10, {}, "first & one");
  plot.AddPoint(10, 20, {}, "second");
  plot.AddPoint(100, NAN, {}, "third");
  plot.AddLegend("series", {});
  const std::string svg = plot.Svg();
  EXPECT_EQ(plot.points(), 3);
  EXPECT_EQ(Count(svg, "<g class=\"pt\">"), 3);
  EXPECT_NE(svg.find("<title>first &amp; one</title>"), std::string::npos);
  EXPECT_NE(svg.find("title &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">n/a</text>"), std::string::npos);  // the strip's label
  EXPECT_NE(svg.find(">series</text>"), std::string::npos);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"p\"", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
  // Log x axis over 1..100: the decade ticks are labelled.
  for (const char* tick : {">1</text>", ">10</text>", ">100</text>"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
}

TEST(SvgTest, PointsMapLinearlyOntoThePlotArea) {
  // x in [0, 10] and y in [0, 100] fixed: x = 5 lands in the middle of the
  // plot area (left 64, right width - 16), y = 100 at its top (30).
  Axis x{"x"}, y{"y"};
  x.min = 0;
  x.max = 10;
  y.min = 0;
  y.max = 100;
  Plot plot("p", "t", x, y, 560, 360);
  plot.AddPoint(5, 100, {"#000", Shape::kSquare, false, 1}, "");
  plot.AddPoint(10, 0, {"#000", Shape::kSquare, false, 1}, "");
  const std::string svg = plot.Svg();
  // One marker definition (centred on 0, 0), placed twice with <use>.
  EXPECT_NE(svg.find("<path id=\"p-m0\" fill=\"#000\" stroke=\"#000\" stroke-width=\"1.3\" "
                     "d=\"M-0.9 -0.9h1.8v1.8h-1.8Z\"/>"),
            std::string::npos)
      << svg;
  EXPECT_EQ(Count(svg, "<path id=\"p-m"), 1);
  EXPECT_NE(svg.find("<use href=\"#p-m0\" x=\"304\" y=\"30\"/>"), std::string::npos) << svg;
  // x = 10 at the right end (560 - 16), y = 0 at the bottom of the plot area:
  // 360 - 34 (tick labels) - 20 (axis label) = 306.
  EXPECT_NE(svg.find("<use href=\"#p-m0\" x=\"544\" y=\"306\"/>"), std::string::npos) << svg;
}

TEST(SvgTest, AnEmptyPlotSaysWhy) {
  Plot plot("p", "t", {"x"}, {"y"});
  plot.SetEmptyNote("nothing yet");
  EXPECT_NE(plot.Svg().find("nothing yet"), std::string::npos);
}

}  // namespace
}  // namespace fnas::report
