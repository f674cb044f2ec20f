"""Search on a pandas DataFrame and predict with the best model, as a notebook would.

    python examples/search_a_dataframe.py            # 12 trials, about a minute on 2 cores
    python examples/search_a_dataframe.py --trials 3

Each step below is a notebook cell. The data is a customer table with numbers, categories
and empty cells; the search runs the bundled ``tabular`` spec (histogram gradient boosting)
on it, and the model it finds predicts on rows it never saw, from Python and after loading
it back from disk. Reports go to ``reports/customers/``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import automl


def customers(n: int, seed: int) -> pd.DataFrame:
    """A made-up customer table; ``churn`` depends on every column, with noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure_months": rng.integers(1, 72, n),
        "monthly_fee": rng.normal(40, 12, n).round(2),
        "plan": rng.choice(["basic", "plus", "family"], n, p=[0.5, 0.3, 0.2]),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "support_calls": rng.poisson(1.5, n).astype(float),
    })
    frame.loc[rng.random(n) < 0.08, "monthly_fee"] = np.nan      # unknown fee
    frame.loc[rng.random(n) < 0.05, "region"] = None             # unknown region
    risk = (2.0 - frame.tenure_months / 24 + frame.support_calls * 0.6
            + (frame.plan == "basic") * 0.8 - (frame.region == "north") * 0.5
            + frame.monthly_fee.fillna(40) / 40 + rng.normal(0, 0.6, n))
    frame["churn"] = np.where(risk > risk.median(), "yes", "no")
    return frame


def main(trials: int) -> float:
    # Cell 1: the data, and rows kept aside as "new" customers.
    frame = customers(1200, seed=0)
    train, new = frame.iloc[:1000], frame.iloc[1000:]

    # Cell 2: search. One line per finished trial; the reports are kept current.
    run = automl.search("tabular", data=train, target="churn", study="customers",
                        trials=trials)
    print(run)
    print(run.leaderboard[["rank", "trial", "state", "val_accuracy", "test_accuracy"]]
          .head().to_string(index=False))

    # Cell 3: predict on new rows with the best model (the target column may be there).
    model = run.best
    predicted = model.predict(new)
    accuracy = float(np.mean(predicted == new["churn"].to_numpy()))
    print(f"{model}: accuracy on {len(new)} new customers {accuracy:.3f}")
    print(model.predict_frame(new.head(3)).to_string(index=False))

    # Cell 4: the model again from disk, as another program would load it.
    again = automl.load("reports/customers")
    assert (again.predict(new) == predicted).all()
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    main(parser.parse_args().trials)
