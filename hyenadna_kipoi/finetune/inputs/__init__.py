"""Read a fine-tuning task from any of its five input layouts into a :class:`TaskData`.

Layouts (``task.input.format``; see ``config/README.md``):

* ``fasta_per_class``: class name -> FASTA (plain or gzip), optional explicit test/valid files.
* ``genomic_benchmarks``: ``FOLDER/{train,test[,valid]}/<class>/*.txt``, one sequence per file.
* ``nucleotide_transformer``: CSV with a header holding ``sequence,label`` (optional ``name``), or
  FASTA whose headers are ``>name|label``.
* ``bed``: ``chrom start end label...`` on a reference FASTA, split by chromosome.
* ``species``: random windows of several genomes; each contig is cut by position into
  consecutive train / valid / test regions holding 80/10/10 % of its ACGT bases, so no
  window overlaps one of another split. Windows within a split may overlap (small genomes).

Rules shared by every layout:

* Sequences are upper-cased. Class order (``TaskData.labels``) is ``task.labels`` when
  declared, else the labels found, sorted (numerically when all are integers). Target
  names of multilabel/regression tasks keep their column order unless declared.
* A missing valid (test) split is carved out of train: ``valid_fraction`` (``test_fraction``)
  of every class (stratified; plain random for multilabel/regression), seeded by ``seed``.
  ``max_train`` then caps train by a stratified seeded subsample.
* Leakage: a train (valid) sequence identical to a test (valid or test) sequence, or to its
  reverse complement (training uses reverse-complement augmentation), is dropped from the
  earlier split with a warning on stderr giving the count: real data sets hold duplicates.
  :func:`check_no_overlap` then verifies the splits (and, for species windows, that no
  window overlaps a window of another split).

Modules: ``dispatch`` (:func:`load_task`), ``splits`` (carving, ``max_train``, leak removal,
:func:`check_no_overlap`, :func:`check_lengths`), ``labels`` (class order, target parsing and
encoding), ``pool`` (records before encoding), and one reader per layout: ``fasta``,
``genomic_benchmarks``, ``nucleotide_transformer``, ``bed``, ``species``.
"""

from __future__ import annotations

from .dispatch import load_task
from .labels import sort_labels
from .splits import check_lengths, check_no_overlap

__all__ = ["check_lengths", "check_no_overlap", "load_task", "sort_labels"]
