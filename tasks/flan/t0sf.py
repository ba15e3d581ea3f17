"""T0-SF: the T0 training datasets that Muffin does not already cover, read from P3's prompted records.

Each P3 prompt folder (`data/{dataset}_{prompt}`) holds the whole dataset rendered by one prompt. As in the
public collection, every one of the collection's 193 prompts is a task of its own, capped at 20k examples
(so the Table 3 ladder counts 193 T0-SF tasks, and every prompt is mixed in from the first batch). A prompt's
declared size is its dataset's train size, as listed in the T0 paper's data card, rounded; most exceed the cap.
"""

from tasks.flan import readers
from tasks.flan.readers import Root
from tasks.flan.sources import Source

# P3 dataset prefix -> declared train size
DATASETS: dict[str, int] = {
    "adversarial_qa_dbert": 10_000, "adversarial_qa_dbidaf": 10_000, "adversarial_qa_droberta": 10_000,
    "amazon_polarity": 3_600_000, "app_reviews": 288_065, "cos_e_v1.11": 9_741, "dbpedia_14": 560_000,
    "dream": 6_116, "duorc_ParaphraseRC": 69_524, "duorc_SelfRC": 60_721, "kilt_tasks_hotpotqa": 88_869,
    "qasc": 8_134, "quail": 10_246, "quarel": 1_941, "quartz": 2_696, "quoref": 19_399, "race_high": 62_445,
    "race_middle": 25_421, "ropes": 10_924, "sciq": 11_679, "social_i_qa": 33_410, "web_questions": 3_778,
    "wiki_bio": 582_659, "wiki_hop_original": 43_738, "wiki_qa": 20_360, "wiqa": 29_808,
}

# The 193 P3 prompts of the collection's task list (flan_collection_info.csv, source T0): one task each.
PROMPTS: tuple[str, ...] = (
    "adversarial_qa_dbert_answer_the_following_q", "adversarial_qa_dbert_based_on",
    "adversarial_qa_dbert_generate_question", "adversarial_qa_dbert_question_context_answer",
    "adversarial_qa_dbert_tell_what_it_is", "adversarial_qa_dbidaf_answer_the_following_q",
    "adversarial_qa_dbidaf_based_on", "adversarial_qa_dbidaf_generate_question",
    "adversarial_qa_dbidaf_question_context_answer", "adversarial_qa_dbidaf_tell_what_it_is",
    "adversarial_qa_droberta_answer_the_following_q", "adversarial_qa_droberta_based_on",
    "adversarial_qa_droberta_generate_question", "adversarial_qa_droberta_question_context_answer",
    "adversarial_qa_droberta_tell_what_it_is", "amazon_polarity_Is_this_product_review_positive",
    "amazon_polarity_Is_this_review", "amazon_polarity_Is_this_review_negative",
    "amazon_polarity_User_recommend_this_product", "amazon_polarity_convey_negative_or_positive_sentiment",
    "amazon_polarity_flattering_or_not", "amazon_polarity_negative_or_positive_tone",
    "amazon_polarity_user_satisfied", "amazon_polarity_would_you_buy",
    "app_reviews_categorize_rating_using_review", "app_reviews_convert_to_rating",
    "app_reviews_convert_to_star_rating", "app_reviews_generate_review", "cos_e_v1.11_aligned_with_common_sense",
    "cos_e_v1.11_description_question_option_id", "cos_e_v1.11_description_question_option_text",
    "cos_e_v1.11_explain_why_human", "cos_e_v1.11_generate_explanation_given_text", "cos_e_v1.11_i_think",
    "cos_e_v1.11_question_description_option_id", "cos_e_v1.11_question_description_option_text",
    "cos_e_v1.11_question_option_description_id", "cos_e_v1.11_question_option_description_text",
    "cos_e_v1.11_rationale", "dbpedia_14_given_a_choice_of_categories_",
    "dbpedia_14_given_a_list_of_category_what_does_the_title_belong_to",
    "dbpedia_14_given_list_what_category_does_the_paragraph_belong_to",
    "dbpedia_14_pick_one_category_for_the_following_text", "dream_answer_to_dialogue", "dream_baseline",
    "dream_generate_first_utterance", "dream_generate_last_utterance",
    "dream_read_the_following_conversation_and_answer_the_question", "duorc_ParaphraseRC_answer_question",
    "duorc_ParaphraseRC_build_story_around_qa", "duorc_ParaphraseRC_decide_worth_it",
    "duorc_ParaphraseRC_extract_answer", "duorc_ParaphraseRC_generate_question",
    "duorc_ParaphraseRC_generate_question_by_answer", "duorc_ParaphraseRC_movie_director",
    "duorc_ParaphraseRC_question_answering", "duorc_ParaphraseRC_title_generation", "duorc_SelfRC_answer_question",
    "duorc_SelfRC_build_story_around_qa", "duorc_SelfRC_decide_worth_it", "duorc_SelfRC_extract_answer",
    "duorc_SelfRC_generate_question", "duorc_SelfRC_generate_question_by_answer", "duorc_SelfRC_movie_director",
    "duorc_SelfRC_question_answering", "duorc_SelfRC_title_generation", "kilt_tasks_hotpotqa_combining_facts",
    "kilt_tasks_hotpotqa_complex_question", "kilt_tasks_hotpotqa_final_exam", "kilt_tasks_hotpotqa_formulate",
    "kilt_tasks_hotpotqa_straighforward_qa", "qasc_is_correct_1", "qasc_is_correct_2",
    "qasc_qa_with_combined_facts_1", "qasc_qa_with_separated_facts_1", "qasc_qa_with_separated_facts_2",
    "qasc_qa_with_separated_facts_3", "qasc_qa_with_separated_facts_4", "qasc_qa_with_separated_facts_5",
    "quail_context_description_question_answer_id", "quail_context_description_question_answer_text",
    "quail_context_description_question_text", "quail_context_question_answer_description_id",
    "quail_context_question_answer_description_text", "quail_context_question_description_answer_id",
    "quail_context_question_description_answer_text", "quail_context_question_description_text",
    "quail_description_context_question_answer_id", "quail_description_context_question_answer_text",
    "quail_description_context_question_text", "quail_no_prompt_id", "quail_no_prompt_text",
    "quarel_choose_between", "quarel_do_not_use", "quarel_heres_a_story", "quarel_logic_test",
    "quarel_testing_students", "quartz_answer_question_based_on", "quartz_answer_question_below",
    "quartz_given_the_fact_answer_the_q", "quartz_having_read_above_passage",
    "quartz_paragraph_question_plain_concat", "quartz_read_passage_below_choose",
    "quartz_use_info_from_paragraph_question", "quartz_use_info_from_question_paragraph",
    "quoref_Answer_Friend_Question", "quoref_Answer_Question_Given_Context", "quoref_Answer_Test",
    "quoref_Context_Contains_Answer", "quoref_Find_Answer", "quoref_Found_Context_Online",
    "quoref_Given_Context_Answer_Question", "quoref_Guess_Answer", "quoref_Guess_Title_For_Context",
    "quoref_Read_And_Extract_", "quoref_What_Is_The_Answer", "race_high_Is_this_the_right_answer",
    "race_high_Read_the_article_and_answer_the_question_no_option_", "race_high_Select_the_best_answer",
    "race_high_Select_the_best_answer_generate_span_", "race_high_Select_the_best_answer_no_instructions_",
    "race_high_Taking_a_test", "race_high_Write_a_multi_choice_question_for_the_following_article",
    "race_high_Write_a_multi_choice_question_options_given_", "race_middle_Is_this_the_right_answer",
    "race_middle_Read_the_article_and_answer_the_question_no_option_", "race_middle_Select_the_best_answer",
    "race_middle_Select_the_best_answer_generate_span_", "race_middle_Select_the_best_answer_no_instructions_",
    "race_middle_Taking_a_test", "race_middle_Write_a_multi_choice_question_for_the_following_article",
    "race_middle_Write_a_multi_choice_question_options_given_", "ropes_background_new_situation_answer",
    "ropes_background_situation_middle", "ropes_given_background_situation",
    "ropes_new_situation_background_answer", "ropes_plain_background_situation", "ropes_plain_bottom_hint",
    "ropes_plain_no_background", "ropes_prompt_beginning", "ropes_prompt_bottom_hint_beginning",
    "ropes_prompt_bottom_no_hint", "ropes_prompt_mix", "ropes_read_background_situation", "sciq_Direct_Question",
    "sciq_Direct_Question_Closed_Book_", "sciq_Multiple_Choice", "sciq_Multiple_Choice_Closed_Book_",
    "sciq_Multiple_Choice_Question_First", "social_i_qa_Check_if_a_random_answer_is_valid_or_not",
    "social_i_qa_Generate_answer", "social_i_qa_Generate_the_question_from_the_answer",
    "social_i_qa_I_was_wondering", "social_i_qa_Show_choices_and_generate_answer",
    "social_i_qa_Show_choices_and_generate_index", "web_questions_get_the_answer",
    "web_questions_potential_correct_answer", "web_questions_question_answer",
    "web_questions_short_general_knowledge_q", "web_questions_whats_the_answer", "wiki_bio_comprehension",
    "wiki_bio_guess_person", "wiki_bio_key_content", "wiki_bio_what_content", "wiki_bio_who",
    "wiki_hop_original_choose_best_object_affirmative_1", "wiki_hop_original_choose_best_object_affirmative_2",
    "wiki_hop_original_choose_best_object_affirmative_3", "wiki_hop_original_choose_best_object_interrogative_1",
    "wiki_hop_original_choose_best_object_interrogative_2", "wiki_hop_original_explain_relation",
    "wiki_hop_original_generate_object", "wiki_hop_original_generate_subject",
    "wiki_hop_original_generate_subject_and_object", "wiki_qa_Decide_good_answer",
    "wiki_qa_Direct_Answer_to_Question", "wiki_qa_Generate_Question_from_Topic", "wiki_qa_Is_This_True_",
    "wiki_qa_Jeopardy_style", "wiki_qa_Topic_Prediction_Answer_Only", "wiki_qa_Topic_Prediction_Question_Only",
    "wiki_qa_Topic_Prediction_Question_and_Answer_Pair", "wiki_qa_automatic_system", "wiki_qa_exercise",
    "wiki_qa_found_on_google", "wiqa_does_the_supposed_perturbation_have_an_effect",
    "wiqa_effect_with_label_answer", "wiqa_effect_with_string_answer",
    "wiqa_what_is_the_final_step_of_the_following_process", "wiqa_what_is_the_missing_first_step",
    "wiqa_what_might_be_the_first_step_of_the_process", "wiqa_what_might_be_the_last_step_of_the_process",
    "wiqa_which_of_the_following_is_the_supposed_perturbation",
)


def prompts_of(dataset: str) -> tuple[str, ...]:
  return tuple(p for p in PROMPTS if p.startswith(f"{dataset}_"))


def dataset_of(prompt: str) -> str:
  """The P3 dataset a prompt folder renders (the longest dataset name it starts with)."""
  return max((d for d in DATASETS if prompt.startswith(f"{d}_")), key=len)


# The embedded collection: two prompt folders of four records for each of three datasets.
MINI_PROMPTS: tuple[str, ...] = (
    "quartz_answer_question_based_on", "quartz_given_the_fact", "social_i_qa_Generate_answer",
    "social_i_qa_Show_choices_and_generate_answer", "wiki_qa_Is_This_True", "wiki_qa_found_on_google",
)
MINI_SIZE = 4


def _prompt_source(root: Root, prompt: str, size: int) -> Source:
  dataset = dataset_of(prompt)
  return Source("t0sf", prompt, "prompted", readers.P3(root, dataset, (prompt,)), size, group=dataset)


def sources(root: Root = readers.data_root) -> list[Source]:
  return [_prompt_source(root, p, DATASETS[dataset_of(p)]) for p in PROMPTS]


def mini_sources(root: Root) -> list[Source]:
  return [_prompt_source(root, p, MINI_SIZE) for p in MINI_PROMPTS]
