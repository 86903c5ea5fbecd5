// task: regression end to end in the engine (README.md, "Regression"): the config keys and their
// refusals, CSV targets (one or more, refused at file:line when not numbers), an LSTM that learns
// a noisy sequence-to-one target well below its variance, keep: best by val_mse, and the task and
// loss kept by model files and checked by checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/model_io.h"
#include "engine/network.h"
#include "engine/torch_export.h"
#include "engine/trainer.h"

namespace hpsweep::regression_test {
namespace {

TrialConfig Regression(const std::vector<std::pair<std::string, std::string>>& keys) {
  TrialConfig c;
  EXPECT_TRUE(ApplyKey("task", "regression", &c).ok());
  for (const auto& [k, v] : keys) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << ": " << s.ToString();
  }
  return c;
}

TEST(RegressionConfigTest, TaskDefaultsItsLossAndRefusesTheOtherTasksLosses) {
  TrialConfig c;
  EXPECT_EQ(GetKey(c, "task"), "classification");
  EXPECT_EQ(GetKey(c, "loss"), "sparse_categorical_crossentropy");
  c = Regression({});
  EXPECT_EQ(GetKey(c, "loss"), "mse");  // the task's default
  EXPECT_EQ(GetKey(c, "output"), "linear");
  EXPECT_TRUE(Validate(c).ok());
  for (const char* loss : {"mse", "mae", "huber", "mean_squared_error", "mean_absolute_error"}) {
    TrialConfig r = Regression({{"loss", loss}});
    EXPECT_TRUE(Validate(r).ok()) << loss;
  }
  Status s = Validate(Regression({{"loss", "sparse_categorical_crossentropy"}}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("key 'loss'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("use mse, mae or huber"), std::string::npos) << s.message();
  TrialConfig cls;
  ASSERT_TRUE(ApplyKey("loss", "mse", &cls).ok());
  s = Validate(cls);
  EXPECT_NE(s.message().find("key 'loss': mse is a regression loss"), std::string::npos)
      << s.message();
  s = Validate(Regression({{"huber_delta", "2"}}));  // mse does not use it
  EXPECT_NE(s.message().find("key 'huber_delta'"), std::string::npos) << s.message();
  EXPECT_TRUE(Validate(Regression({{"loss", "huber"}, {"huber_delta", "2"}})).ok());
  s = Validate(Regression({{"validation_split", "0.2"}, {"validation_stratify", "true"}}));
  EXPECT_NE(s.message().find("key 'validation_stratify'"), std::string::npos) << s.message();
  EXPECT_NE(ApplyKey("task", "forecast", &c).message().find("expected classification or "
                                                            "regression"),
            std::string::npos);
  EXPECT_FALSE(ApplyKey("huber_delta", "0", &c).ok());
  EXPECT_FALSE(ApplyKey("huber_delta", "-1", &c).ok());
}

TEST(RegressionConfigTest, OutputIsDenseOfTheTargetsAndCountedLikeKeras) {
  TrialConfig c = Regression({{"cell", "lstm"}, {"units", "8"}});
  c.model.steps = 6;
  c.model.features = 1;
  c.model.classes = 2;  // targets
  // Keras: LSTM(8) on 1 feature: 4*8*(1+8+1) = 320; Dense(2): 8*2 + 2 = 18.
  EXPECT_EQ(ParamCount(c), 338);
  EXPECT_EQ(CountParams(c.model), 338);
  const std::string summary = Summary(c.model);
  EXPECT_NE(summary.find("(None, 2)"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("softmax"), std::string::npos) << summary;
}

TEST(RegressionCsvTest, TargetsBeginEachRow) {
  // Two targets, then 4 values read as 2 steps of 2 features.
  StatusOr<Dataset> ds = ParseCsv("y1,y2,a,b,c,d\n5.345,-1,1,2,3,4\n0.5,2e-3,5,6,7,8\n", "r.csv", 2,
                                  2);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->count, 2);
  EXPECT_EQ(ds->num_targets, 2);
  EXPECT_TRUE(ds->labels.empty());
  EXPECT_EQ(ds->targets, (std::vector<float>{5.345f, -1.0f, 0.5f, 2e-3f}));
  EXPECT_EQ(ds->rows, 2);
  EXPECT_EQ(ds->cols, 2);
  EXPECT_EQ(ds->images, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  // The classification reading of the same kind of row: today's message, unchanged.
  StatusOr<Dataset> cls = ParseCsv("5.345,1,2\n", "c.csv", 1);
  EXPECT_NE(cls.status().message().find("label '5.345' is not an integer"), std::string::npos)
      << cls.status().message();
}

TEST(RegressionCsvTest, BadTargetsAreRefusedAtFileAndLine) {
  StatusOr<Dataset> ds = ParseCsv("1.5,1,2\n2.5,3,4\nabc,5,6\n", "r.csv", 1, 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find("r.csv:3: target 'abc'"), std::string::npos)
      << ds.status().message();
  ds = ParseCsv("1.5,nan,1,2\n", "r.csv", 1, 2);
  EXPECT_NE(ds.status().message().find("r.csv:1: target 'nan' (field 2)"), std::string::npos)
      << ds.status().message();
  ds = ParseCsv("1.5,2\n", "r.csv", 1, 2);  // two targets and no feature
  EXPECT_NE(ds.status().message().find("r.csv:1: a row needs its 2 target(s)"), std::string::npos)
      << ds.status().message();
  ds = ParseCsv("1,2,3\n", "r.csv", 1, kMaxTargets + 1);
  EXPECT_FALSE(ds.ok());
}

TEST(RegressionCsvTest, TargetsOnlyFromCsv) {
  DataSpec spec;
  spec.format = DataFormat::kIdx;
  spec.path = "/nonexistent";
  spec.targets = 1;
  StatusOr<Mnist> m = LoadDataset(spec);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("real-valued targets are read from csv data"),
            std::string::npos)
      << m.status().message();
}

TEST(RegressionCsvTest, PredictRowsMayBeginWithTheirTargets) {
  StatusOr<ModelInputs> in = ParseCsvForModel("1.5,-2,1,2,3\n0,0,4,5,6\n", "p.csv", 3, 1, 2);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_TRUE(in->labeled);
  EXPECT_EQ(in->data.targets, (std::vector<float>{1.5f, -2.0f, 0, 0}));
  EXPECT_EQ(in->data.images, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  in = ParseCsvForModel("1,2,3\n", "p.csv", 3, 1, 2);
  ASSERT_TRUE(in.ok());
  EXPECT_FALSE(in->labeled);
  in = ParseCsvForModel("1,2,3,4\n", "p.csv", 3, 1, 2);  // one value too many, one too few
  EXPECT_NE(in.status().message().find("p.csv:1: 4 values"), std::string::npos)
      << in.status().message();
}

// y1 = half the sum of 6 values in [-1, 1] (variance 1), y2 = the last one (variance 1/3), plus
// noise of sd 0.05; features row-major after the two targets.
std::string SequenceCsv(int rows, uint64_t seed) {
  Rng rng(seed);
  std::string out = "sum,last,x1,x2,x3,x4,x5,x6\n";
  for (int r = 0; r < rows; ++r) {
    double x[6], sum = 0;
    for (double& v : x) {
      v = rng.Uniform(-1, 1);
      sum += v;
    }
    out += std::to_string(0.5 * sum + 0.05 * rng.Uniform(-1.7, 1.7)) + "," +
           std::to_string(x[5] + 0.05 * rng.Uniform(-1.7, 1.7));
    for (double v : x) out += "," + std::to_string(v);
    out += "\n";
  }
  return out;
}

Mnist SequenceData() {
  Mnist m;
  StatusOr<Dataset> train = ParseCsv(SequenceCsv(800, 1), "train.csv", 6, 2);
  StatusOr<Dataset> test = ParseCsv(SequenceCsv(200, 2), "test.csv", 6, 2);
  EXPECT_TRUE(train.ok() && test.ok());
  m.train = std::move(*train);
  m.test = std::move(*test);
  return m;
}

TEST(RegressionTrainTest, LstmLearnsASequenceToOneTargetWellBelowItsVariance) {
  const Mnist data = SequenceData();
  TrialConfig c = Regression({{"cell", "lstm"}, {"units", "16"}, {"epochs", "12"},
                              {"batch_size", "16"}, {"learning_rate", "0.01"},
                              {"validation_split", "0.2"}, {"seed", "3"}});
  ShapeModelToData(data, &c.model);
  ASSERT_EQ(c.model.classes, 2);
  ASSERT_EQ(c.model.steps, 6);
  ASSERT_EQ(c.model.features, 1);
  TrainOptions opts;
  opts.threads = 2;
  StatusOr<TrainResult> r = Train(c, data, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The targets' variance, averaged over the two: (1 + 1/3) / 2 = 0.667 (plus the noise's).
  const double variance = (1.0 + 1.0 / 3) / 2;
  const EpochMetrics& first = r->history.front();
  const EpochMetrics& last = r->history.back();
  EXPECT_EQ(last.val_accuracy, -1);
  EXPECT_EQ(last.train_accuracy, -1);
  EXPECT_GE(first.val_mse, 0);
  EXPECT_LT(last.val_mse, 0.1 * variance) << "first epoch " << first.val_mse;
  EXPECT_LT(last.val_mse, first.val_mse);
  EXPECT_NEAR(last.val_loss, last.val_mse, 1e-9);  // loss: mse
  EXPECT_GT(last.val_mae, 0);
  EXPECT_GE(last.train_mse, 0);
  // The test pass: mse and mae, no accuracy, no confusion matrix.
  EXPECT_EQ(r->test.count, 200);
  EXPECT_LT(r->test.mse, 0.1 * variance);
  EXPECT_EQ(r->test.accuracy, -1);
  EXPECT_TRUE(r->test.confusion.empty());
  EXPECT_NEAR(r->test.loss, r->test.mse, 1e-9);
  // Predictions are the linear outputs, and they agree with the test pass's mse.
  const Mat<float> y = PredictProba(r->model, data.test.samples(), data.test.count, 1);
  ASSERT_EQ(y.cols(), 2);
  double sq = 0;
  for (int64_t i = 0; i < data.test.count; ++i) {
    for (int k = 0; k < 2; ++k) {
      const double e = y(i, k) - data.test.targets[i * 2 + k];
      sq += e * e / 2;
    }
  }
  EXPECT_NEAR(sq / data.test.count, r->test.mse, 1e-5);
}

TEST(RegressionTrainTest, KeepBestKeepsTheLowestValMseEpochAndMaeLossTrainsToo) {
  const Mnist data = SequenceData();
  TrialConfig c = Regression({{"cell", "gru"}, {"units", "8"}, {"epochs", "4"},
                              {"learning_rate", "0.05"}, {"loss", "mae"},
                              {"validation_split", "0.25"}, {"train_limit", "400"}});
  ShapeModelToData(data, &c.model);
  TrainOptions opts;  // monitor left at its default: val_mse for a regression model
  StatusOr<TrainResult> r = Train(c, data, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int best = 1;
  for (const EpochMetrics& m : r->history) {
    if (m.val_mse < r->history[best - 1].val_mse) best = m.epoch;
    EXPECT_NEAR(m.val_loss, m.val_mae, 1e-9);  // loss: mae
  }
  EXPECT_EQ(r->weights_epoch, best);
  // The kept weights are the best epoch's: evaluated again, its val_mse.
  Evaluation again = EvaluateRows(r->model, data.train,
                                  [] {
                                    std::vector<int64_t> rows;
                                    for (int64_t i = 300; i < 400; ++i) rows.push_back(i);
                                    return rows;
                                  }(),
                                  1);
  EXPECT_NEAR(again.mse, r->history[best - 1].val_mse, 1e-6);
}

TEST(RegressionTrainTest, RefusesClassLabelsAndTheWrongTargetCount) {
  Mnist data = SequenceData();
  TrialConfig c = Regression({{"cell", "lstm"}, {"units", "4"}});
  ShapeModelToData(data, &c.model);
  TrialConfig cls = c;
  cls.model.task = Task::kClassification;
  cls.train.loss = Loss::kAuto;
  StatusOr<TrainResult> r = Train(cls, data, TrainOptions());
  EXPECT_NE(r.status().message().find("set task: regression"), std::string::npos)
      << r.status().message();
  c.model.classes = 3;
  r = Train(c, data, TrainOptions());
  EXPECT_NE(r.status().message().find("the data have 2 targets but the model outputs 3"),
            std::string::npos)
      << r.status().message();
}

TEST(RegressionModelFileTest, RoundTripKeepsTaskLossAndPredictions) {
  TrialConfig c = Regression({{"cell", "lstm"}, {"units", "5"}, {"loss", "huber"},
                              {"huber_delta", "0.5"}});
  c.model.steps = 6;
  c.model.features = 1;
  c.model.classes = 2;
  const Model m = InitModel(c);
  const std::string bytes = SerializeModel(m);
  for (const char* line : {"\ntask=regression\n", "\nloss=huber\n", "\nhuber_delta=0.5\n",
                           "\nclasses=2\n"}) {
    EXPECT_NE(bytes.find(line), std::string::npos) << line;
  }
  StatusOr<Model> back = ParseModel(bytes, "r.hpsm");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->config.model.task, Task::kRegression);
  EXPECT_EQ(back->config.train.EffectiveLoss(Task::kRegression), Loss::kHuber);
  EXPECT_EQ(back->config.train.huber_delta, 0.5f);
  EXPECT_EQ(SerializeModel(*back), bytes);
  const float x[12] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 1, 0, -1, 0.5f, 0.25f, 0};
  const Mat<float> a = PredictProba(m, x, 2, 1), b = PredictProba(*back, x, 2, 1);
  EXPECT_EQ(a, b);
  // Not softmax probabilities: rows need not sum to 1 and may be negative.
  EXPECT_GT(std::abs(a.row(0).sum() - 1.0f), 1e-3f);
  // The PyTorch export's module applies softmax: a regression model is refused, not mangled.
  Status s = CheckTorchExportable(m.config.model);
  EXPECT_NE(s.message().find("task=regression"), std::string::npos) << s.ToString();
}

TEST(RegressionCheckpointTest, ResumesBitForBitAndBelongsToItsTaskAndLoss) {
  const Mnist data = SequenceData();
  TrialConfig c = Regression({{"cell", "lstm"}, {"units", "6"}, {"epochs", "3"},
                              {"loss", "huber"}, {"validation_split", "0.2"},
                              {"train_limit", "300"}});
  ShapeModelToData(data, &c.model);
  std::string saved;
  TrainOptions opts;
  opts.on_checkpoint = [&](const TrainCheckpoint& cp) {
    if (cp.epoch == 1) saved = SerializeCheckpoint(c, cp);
  };
  StatusOr<TrainResult> full = Train(c, data, opts);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_FALSE(saved.empty());
  StatusOr<TrainCheckpoint> cp = ParseCheckpoint(saved, c, "cp");
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  TrainOptions resume;
  resume.resume = &*cp;
  StatusOr<TrainResult> resumed = Train(c, data, resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->model.params, full->model.params);
  EXPECT_EQ(resumed->history.back().val_mse, full->history.back().val_mse);
  EXPECT_EQ(resumed->test.mse, full->test.mse);
  // Another loss, or the other task, is another configuration: its checkpoint is refused.
  TrialConfig mse = c;
  mse.train.loss = Loss::kMse;
  EXPECT_FALSE(ParseCheckpoint(saved, mse, "cp").ok());
  TrialConfig cls = c;
  cls.model.task = Task::kClassification;
  cls.train.loss = Loss::kAuto;
  EXPECT_FALSE(ParseCheckpoint(saved, cls, "cp").ok());
}

}  // namespace
}  // namespace hpsweep::regression_test
