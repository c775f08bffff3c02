"""What DataTransform learns at fit: the model its predict stage applies unchanged (shared by the dense
runner and the sparse / tag formats)."""

from __future__ import annotations

from dataclasses import dataclass, field

INTEGER_TYPES = ("int", "int64", "long")


@dataclass
class Transform:
    """What DataTransform learnt at fit: applied unchanged to validate and predict data (it is the model).

    The format fields (``input_format`` ... ``match_id_index``) have defaults, so a model saved before they
    existed (dense only) still loads.
    """

    header: list[str]
    label_name: str | None
    label_type: str
    data_type: str
    column_types: dict[str, str] = field(default_factory=dict)
    match_id_name: str | None = None
    missing_values: list[str] = field(default_factory=list)
    missing_fill: dict[str, float] | None = None
    outlier_values: list[str] = field(default_factory=list)
    outlier_replace: dict[str, float] | None = None
    input_format: str = "dense"
    output_format: str = "dense"
    delimitor: str = ","
    tag_with_value: bool = False
    tag_value_delimitor: str = ":"
    match_id_index: int = 0

    def type_of(self, column: str) -> str:
        """The data type of a feature column (``exclusive_data_type`` first)."""
        return self.column_types.get(column, self.data_type)
