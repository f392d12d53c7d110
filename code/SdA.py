"""A stacked denoising autoencoder (SdA) on MNIST.

Training has two phases:

1. Pre-training, unsupervised and one layer at a time: layer k is a
   denoising autoencoder (dA.py) that learns to reconstruct the output of
   layer k - 1 from a corrupted copy of it.
2. Fine-tuning, supervised: the layers, now read as the hidden layers of an
   MLP (mlp.py), get a logistic regression layer on top
   (logistic_sgd.py) and the whole network is trained by SGD with early
   stopping.

The dA of a layer and the MLP's hidden layer share one weight matrix and
one hidden bias, so what pre-training learns is where fine-tuning starts.

Run it:  python code/SdA.py          (python code/SdA.py --help)
Published result: validation error 1.39 %, test error 1.3 %.
"""

import os

if __name__ == "__main__":
    # At one example per step the matrix-vector products are too small to
    # share between cores: on a 2-core machine a second BLAS thread made the
    # pre-training step 2.6 times slower, and erratic (docs: performance).
    # Set before NumPy loads BLAS, and only when run as a script (importing
    # the lesson changes nothing); an OPENBLAS_NUM_THREADS of your own wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy

import pytensor
import pytensor.tensor as pt

from dA import check_corruption_level, dA
from logistic_sgd import LogisticRegression
from mlp import HiddenLayer
from machinery import (SPLITS, ArgumentParser, Checkpoint, Result, add_common_arguments,
                       apply_common_arguments, check_batch_size, check_model_size,
                       dataset_fingerprint, install_speedups, non_negative_int,
                       positive_float, positive_int, report_time, run_cli, split_sizes,
                       timer)
from utils import load_data, plot_curves, plot_validation_history

# examples scored per call when measuring validation and test errors
SCORE_CHUNK = 1000


def check_layers(hidden_layers_sizes, corruption_levels=None):
    """Raise ValueError for layer sizes an SdA cannot have, or (when given)
    pre-training corruption levels that are not one per layer in [0, 1)."""
    if len(hidden_layers_sizes) == 0:
        raise ValueError("hidden_layers_sizes is empty: an SdA needs at least one layer")
    if any(int(n) != n or n < 1 for n in hidden_layers_sizes):
        raise ValueError(f"hidden layer sizes must be positive integers, got "
                         f"{list(hidden_layers_sizes)}")
    if corruption_levels is None:
        return
    if len(corruption_levels) != len(hidden_layers_sizes):
        raise ValueError(f"{len(corruption_levels)} corruption levels for "
                         f"{len(hidden_layers_sizes)} hidden layers: give one per layer")
    for level in corruption_levels:
        check_corruption_level(level)


# start-snippet-sda
class SdA(object):
    """A deep MLP whose hidden layers are pre-trained as denoising autoencoders.

    sigmoid_layers: the MLP's hidden layers, bottom to top.
    dA_layers: one dA per hidden layer, holding the same W and b.
    params: the MLP's parameters (fine-tuning); the dAs' visible biases are
        only used in pre-training.
    """

    def __init__(self, numpy_rng, pytensor_rng=None, n_ins=784,
                 hidden_layers_sizes=[500, 500], n_outs=10,
                 corruption_levels=[0.1, 0.1]):
        # As in the original, corruption_levels is accepted but not used
        # here: pre-training is given the levels it corrupts with.
        check_layers(hidden_layers_sizes)
        self.sigmoid_layers = []
        self.dA_layers = []
        self.params = []
        self.n_layers = len(hidden_layers_sizes)
        self.corruption_levels = list(corruption_levels)

        if pytensor_rng is None:
            pytensor_rng = pt.random.shared_rng(seed=numpy_rng.randint(2 ** 30))
        # A generator may only be advanced by one graph, so each dA gets its
        # own stream, split off the given one.
        layer_streams = pytensor_rng.get_value().spawn(self.n_layers)

        self.x = pt.matrix("x")     # the images
        self.y = pt.ivector("y")    # their labels

        below, n_below = self.x, n_ins   # what the first layer reads: the images
        for i, n_units in enumerate(hidden_layers_sizes):
            layer = HiddenLayer(numpy_rng, below, n_below, n_units, activation=pt.sigmoid)
            # this layer's autoencoder reuses the layer's W and b (the same
            # shared variables, not copies) and adds a visible bias of its own
            autoencoder = dA(numpy_rng, pt.random.shared_rng(layer_streams[i]), below,
                             n_visible=n_below, n_hidden=n_units,
                             W=layer.W, bhid=layer.b)
            self.sigmoid_layers.append(layer)
            self.dA_layers.append(autoencoder)
            self.params += layer.params
            below, n_below = layer.output, n_units   # the next layer reads this one

        self.logLayer = LogisticRegression(input=self.sigmoid_layers[-1].output,
                                           n_in=hidden_layers_sizes[-1], n_out=n_outs)
        self.params.extend(self.logLayer.params)

        # what fine-tuning minimises, and the error it reports
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        self.errors = self.logLayer.errors(self.y)
# end-snippet-sda

    # start-snippet-pretraining-functions
    def pretraining_functions(self, train_set_x, batch_size):
        """One compiled function per layer; each takes a minibatch index and,
        optionally, the corruption level (default 0.2) and learning rate
        (default 0.1), and takes one SGD step on that layer's dA."""
        index = pt.lscalar("index")
        corruption_level = pt.scalar("corruption")
        learning_rate = pt.scalar("lr")
        batch_begin = index * batch_size
        batch_end = batch_begin + batch_size

        pretrain_fns = []
        for dA_layer in self.dA_layers:
            cost, updates = dA_layer.get_cost_updates(corruption_level, learning_rate)
            step = pytensor.function(
                inputs=[index, corruption_level, learning_rate],
                outputs=cost, updates=updates,
                # the whole stack below this dA runs on the minibatch
                givens={self.x: train_set_x[batch_begin:batch_end]})

            # PyTensor dropped default values for inputs (Theano's
            # In(value=...)); a plain Python default does the same job.
            def pretrain_fn(index, corruption=0.2, lr=0.1, step=step):
                return step(index, corruption, lr)
            pretrain_fns.append(pretrain_fn)
        return pretrain_fns
    # end-snippet-pretraining-functions

    # start-snippet-finetuning-functions
    def build_finetune_functions(self, datasets, batch_size, learning_rate):
        """Returns (train_fn, valid_score, test_score): one SGD step of the
        whole network on minibatch i, and the lists of per-minibatch errors
        on the validation and test sets."""
        (train_set_x, train_set_y) = datasets[0]
        (valid_set_x, valid_set_y) = datasets[1]
        (test_set_x, test_set_y) = datasets[2]
        n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
        n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size

        index = pt.lscalar("index")

        def batch(data):
            return data[index * batch_size: (index + 1) * batch_size]

        gparams = pt.grad(self.finetune_cost, self.params)
        updates = [(param, param - gparam * learning_rate)
                   for param, gparam in zip(self.params, gparams)]
        train_fn = pytensor.function(
            inputs=[index], outputs=self.finetune_cost, updates=updates,
            givens={self.x: batch(train_set_x), self.y: batch(train_set_y)},
            name="train")

        # Scoring learns nothing, so it need not go one minibatch at a time:
        # at batch size 1 that is 10,000 calls per set, each reading all the
        # weights. We score SCORE_CHUNK examples per call and then average
        # them per minibatch, which gives the same list, several times faster.
        chunk = pt.lscalar("chunk")
        wrong = pt.neq(self.logLayer.y_pred, self.y)

        def scorer(set_x, set_y, n_batches):
            rows = slice(chunk * SCORE_CHUNK, (chunk + 1) * SCORE_CHUNK)
            wrong_in_chunk = pytensor.function(
                [chunk], wrong, givens={self.x: set_x[rows], self.y: set_y[rows]})
            n_examples = n_batches * batch_size
            n_chunks = -(-n_examples // SCORE_CHUNK)   # rounded up

            def score():
                errors = numpy.concatenate([wrong_in_chunk(c) for c in range(n_chunks)])
                per_batch = errors[:n_examples].reshape(n_batches, batch_size)
                return list(per_batch.mean(axis=1))
            return score

        valid_score = scorer(valid_set_x, valid_set_y, n_valid_batches)
        test_score = scorer(test_set_x, test_set_y, n_test_batches)

        return train_fn, valid_score, test_score
    # end-snippet-finetuning-functions


def test_SdA(finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001,
             training_epochs=1000, dataset="mnist.pkl.gz", batch_size=1,
             output_folder="SdA_out", hidden_layers_sizes=(1000, 1000, 1000),
             corruption_levels=(0.1, 0.2, 0.3), resume=False):
    """Pre-train an SdA layer by layer, then fine-tune it with early stopping.

    finetune_lr, pretrain_lr: SGD step sizes of the two phases.
    pretraining_epochs: epochs per layer in pre-training.
    training_epochs: at most this many fine-tuning epochs.
    dataset: see utils.load_mnist.
    batch_size: examples per minibatch, in both phases.
    output_folder: where the checkpoint and the curves (pretraining_cost.png,
        validation_error.png) go.
    hidden_layers_sizes, corruption_levels: the original's [1000, 1000, 1000]
        and [.1, .2, .3], here as arguments so small runs are possible.
    resume: continue from the checkpoint in output_folder.
    Returns a Result: best validation error, its iteration, its test error,
    fine-tuning epochs, and as costs the pre-training cost of each layer and epoch.
    """
    if not finetune_lr > 0 or not pretrain_lr > 0:
        raise ValueError(f"learning rates must be positive, got finetune_lr={finetune_lr}, "
                         f"pretrain_lr={pretrain_lr}")
    if batch_size < 1 or pretraining_epochs < 0 or training_epochs < 1:
        raise ValueError("batch_size and training_epochs must be at least 1 and "
                         "pretraining_epochs at least 0, got "
                         f"{batch_size}, {training_epochs}, {pretraining_epochs}")
    check_layers(hidden_layers_sizes, corruption_levels)
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    check_batch_size(batch_size, split_sizes(datasets), SPLITS)
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    # the original's seed: the SdA starts from the original's exact weights
    numpy_rng = numpy.random.RandomState(89677)
    print("... building the model")
    sda = SdA(numpy_rng=numpy_rng, n_ins=28 * 28,
              hidden_layers_sizes=list(hidden_layers_sizes), n_outs=10,
              corruption_levels=list(corruption_levels))

    variables = {"logLayer.W": sda.logLayer.W, "logLayer.b": sda.logLayer.b}
    for i, da in enumerate(sda.dA_layers):
        variables.update({f"layer{i}.W": da.W, f"layer{i}.b": da.b,
                          f"layer{i}.b_prime": da.b_prime, f"layer{i}.rng": da.pytensor_rng})
    checkpoint = Checkpoint(
        output_folder, variables=variables,
        config=dict(script="SdA", finetune_lr=finetune_lr, pretraining_epochs=pretraining_epochs,
                    pretrain_lr=pretrain_lr, training_epochs=training_epochs,
                    batch_size=batch_size, hidden_layers_sizes=list(hidden_layers_sizes),
                    corruption_levels=list(corruption_levels), floatX=pytensor.config.floatX,
                    **dataset_fingerprint(dataset, datasets)))

    # start-snippet-pretrain-loop
    print("... getting the pretraining functions")
    pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x,
                                                batch_size=batch_size)

    print("... pre-training the model")
    # the mean cost of each layer's epochs so far (a resumed run has some)
    pretrain_costs = checkpoint.restore(resume, pretrain_costs=[[] for _ in sda.dA_layers])
    start_time = timer()
    # layer by layer, bottom up: each dA learns from the output of the
    # layers below it, which only compute its input
    for i in range(sda.n_layers):
        for epoch in range(len(pretrain_costs[i]), pretraining_epochs):
            c = []
            for batch_index in range(n_train_batches):
                c.append(pretraining_fns[i](index=batch_index,
                                            corruption=corruption_levels[i],
                                            lr=pretrain_lr))
            pretrain_costs[i].append(numpy.mean(c, dtype="float64"))
            print("Pre-training layer %i, epoch %d, cost %f" % (i, epoch, pretrain_costs[i][-1]))
            checkpoint.save(pretrain_costs=pretrain_costs)
    report_time(__file__, timer() - start_time, what="The pretraining code")
    # end-snippet-pretrain-loop

    # start-snippet-finetune-loop
    print("... getting the finetuning functions")
    train_fn, validate_model, test_model = sda.build_finetune_functions(
        datasets=datasets, batch_size=batch_size, learning_rate=finetune_lr)

    print("... finetunning the model")
    # early stopping, as in logistic_sgd.py and mlp.py
    patience = 10 * n_train_batches   # at least ten epochs, whatever happens
    patience_increase = 2             # after a clear improvement, wait this many times longer
    improvement_threshold = 0.995     # clear: at least 0.5 % below the best error so far
    validation_frequency = min(n_train_batches, patience // 2)

    (epoch, patience, best_validation_loss, best_iter, test_score, done_looping,
     history) = checkpoint.restore(resume, epoch=0, patience=patience,
                                   best_validation_loss=numpy.inf, best_iter=0,
                                   test_score=0.0, done_looping=False, history=[])
    start_time = timer()
    while epoch < training_epochs and not done_looping:
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            minibatch_avg_cost = train_fn(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index

            if (iter + 1) % validation_frequency == 0:
                validation_losses = validate_model()
                this_validation_loss = numpy.mean(validation_losses, dtype="float64")
                history.append((iter + 1, this_validation_loss))
                print("epoch %i, minibatch %i/%i, validation error %f %%"
                      % (epoch, minibatch_index + 1, n_train_batches,
                         this_validation_loss * 100.0))

                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    best_iter = iter
                    test_losses = test_model()
                    test_score = numpy.mean(test_losses, dtype="float64")
                    print("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                          % (epoch, minibatch_index + 1, n_train_batches,
                             test_score * 100.0))

            if patience <= iter:
                done_looping = True
                break
        checkpoint.save(epoch=epoch, patience=patience,
                        best_validation_loss=best_validation_loss, best_iter=best_iter,
                        test_score=test_score, done_looping=done_looping, history=history)
    print("Optimization complete with best validation score of %f %%, "
          "on iteration %i, with test performance %f %%"
          % (best_validation_loss * 100.0, best_iter + 1, test_score * 100.0))
    report_time(__file__, timer() - start_time, what="The training code")
    # end-snippet-finetune-loop

    if pretraining_epochs > 0:
        plot_curves(os.path.join(output_folder, "pretraining_cost.png"),
                    {f"layer {i}": (range(len(c)), c) for i, c in enumerate(pretrain_costs)},
                    "epoch", "mean reconstruction cost", "SdA pre-training")
    plot_validation_history(os.path.join(output_folder, "validation_error.png"),
                            history, n_train_batches, "SdA fine-tuning")
    return Result(best_validation_loss=best_validation_loss, best_iter=best_iter + 1,
                  test_score=test_score, epochs=epoch, costs=pretrain_costs)


def main(argv=None):
    parser = ArgumentParser(
        description="Pre-train a stacked denoising autoencoder on MNIST layer by layer, "
                    "then fine-tune it as a classifier with early stopping.")
    parser.add_argument("--finetune-lr", type=positive_float, default=0.1,
                        help="fine-tuning SGD step size")
    parser.add_argument("--pretraining-epochs", type=non_negative_int, default=15,
                        help="pre-training epochs per layer")
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.001,
                        help="pre-training SGD step size")
    parser.add_argument("--training-epochs", type=positive_int, default=1000,
                        help="at most this many fine-tuning epochs")
    parser.add_argument("--batch-size", type=positive_int, default=1,
                        help="examples per minibatch")
    parser.add_argument("--hidden-layers-sizes", type=positive_int, nargs="+",
                        default=[1000, 1000, 1000],
                        help="units per hidden layer")
    parser.add_argument("--corruption-levels", type=float, nargs="+",
                        default=[0.1, 0.2, 0.3],
                        help="corruption of each layer's input in pre-training, "
                             "in [0, 1)")
    add_common_arguments(parser, output_folder="SdA_out")
    args = parser.parse_args(argv)
    try:
        check_layers(args.hidden_layers_sizes, args.corruption_levels)
    except ValueError as e:
        parser.error(str(e))
    sizes = [28 * 28] + args.hidden_layers_sizes + [10]
    check_model_size(sum(a * b for a, b in zip(sizes, sizes[1:])))
    apply_common_arguments(args)
    install_speedups(enabled=not args.no_speedups)   # faster Numba code, same results
    run_cli(lambda: test_SdA(
        finetune_lr=args.finetune_lr, pretraining_epochs=args.pretraining_epochs,
        pretrain_lr=args.pretrain_lr, training_epochs=args.training_epochs,
        dataset=args.dataset, batch_size=args.batch_size, output_folder=args.output_folder,
        hidden_layers_sizes=args.hidden_layers_sizes,
        corruption_levels=args.corruption_levels, resume=args.resume))


if __name__ == "__main__":
    main()
